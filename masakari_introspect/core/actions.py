"""What the core asks the runtime to do, and what survives a restart.

:class:`~masakari_introspect.core.fleet.Fleet` returns :data:`Action`
values (probe, look up, sample every guest or a few, later or now,
unqueue, report, withdraw, limited, save, run an application probe); the
monitor carries each out. A :class:`Save` asks the monitor to write
:class:`Persisted`, whose :class:`Remembered` records come back to the
fleet after a restart.

Only frozen dataclasses and enums live here; no I/O.
"""

import dataclasses
import enum

from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.model import Reason
from masakari_introspect.core.notification import Notification


# -- what the fleet decides, for the monitor to carry out ----------------------


@dataclasses.dataclass(frozen=True)
class Probe:
    uuid: str
    token: int
    suspect: bool       # may hang: probed apart from the healthy ones
    priority: int       # lower first
    osinfo: bool = False   # also ask the agent its OS (guest-get-osinfo)


@dataclasses.dataclass(frozen=True)
class Lookup:
    uuid: str


@dataclasses.dataclass(frozen=True)
class Sample:
    """Read the activity counters of every running guest."""


@dataclasses.dataclass(frozen=True)
class SampleLater:
    """Call :meth:`~masakari_introspect.core.fleet.Fleet.recheck` at the
    monotonic time ``at`` (or at once if it passed): a late kernel
    heartbeat goes stale then (see :mod:`masakari_introspect.core.recheck`).
    """
    at: float


@dataclasses.dataclass(frozen=True)
class SampleGuests:
    """Read the activity counters (and heartbeat) of these guests only,
    now, in the order of the bulk calls: queued behind a bulk call already
    asked, never beside one; the answer goes to
    :meth:`~masakari_introspect.core.fleet.Fleet.guests_sampled`."""
    uuids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SampleVcpus:
    """Read every running guest's vCPU run time and run delay, in a call
    of its own (see :mod:`masakari_introspect.core.starvation`)."""


@dataclasses.dataclass(frozen=True)
class Unqueue:
    """A verdict made the instance's probe moot: if it is still queued,
    drop it (no libvirtd worker spent on it)."""
    uuid: str


@dataclasses.dataclass(frozen=True)
class Report:
    notification: Notification
    stats: dict[str, int]
    probes: tuple[dict[str, object], ...]
    died: str | None = None    # which part: core/died.py


class WithdrawCause(enum.Enum):
    """Why a pending notification is no longer wanted."""

    ANSWERED = 'answered'        # the guest answers again
    LEFT_HOST = 'left_host'      # stopped, undefined, migrated away
    NEW_PROCESS = 'new_process'  # another QEMU process runs the guest now
    MAINTENANCE = 'maintenance'  # the operator excluded the instance


@dataclasses.dataclass(frozen=True)
class Withdraw:
    uuid: str
    why: str
    cause: WithdrawCause = WithdrawCause.ANSWERED


@dataclasses.dataclass(frozen=True)
class Limited:
    """A report was held back: the recovery limit is reached."""

    uuid: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Save:
    """What survives a restart changed: ask the fleet for it and write it
    (see :meth:`~masakari_introspect.core.fleet.Fleet.persisted`)."""


# -- what survives a restart ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Remembered:
    domain_id: int
    answered: bool
    reported: bool
    known: bool = False    # the agent answered in some boot on this host
    reports: tuple[float, ...] = ()   # wall-clock times of recent reports
    limited: bool = False  # a report is held back by the recovery limit
    held: Reason | None = None   # a failure told while excluded, reported
    # when the exclusion ends (void for another domain id)
    reason: Reason | None = None   # of the reported episode (a report
    # held back by the limit says it; withdrawn for maintenance, it is held)


@dataclasses.dataclass(frozen=True)
class Persisted:
    """The state to write to disk."""

    records: dict[str, Remembered]
    maintenance: frozenset[str]
    absent: dict[str, float]


# Everything the fleet may ask of the monitor.
Action = Probe | Lookup | Sample | SampleLater | SampleGuests | \
    SampleVcpus | Report | Withdraw | Limited | Save | AppRun | Unqueue
