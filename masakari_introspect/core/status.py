"""What the core tells operators about one instance, as a plain value.

Built on the monitor's owner thread by
:func:`~masakari_introspect.core.viewing.view` (and for an instance
in maintenance that is not on this host, by
:func:`~masakari_introspect.core.viewing.absent_view`); read by the status
socket, the metrics and the check (see :mod:`masakari_introspect.ops.snapshot`).
"""

import dataclasses

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason

MAINTENANCE = 'maintenance'
NOT_MONITORED = 'not monitored (policy)'
LIMITED = 'recovery limit reached'


@dataclasses.dataclass(frozen=True)
class AppProbeStatus:
    """One application probe of an instance."""

    name: str
    on_failure: str                   # report, warn
    failing: bool = False             # in a failure episode
    failures: int = 0                 # failed runs in a row
    runs: int = 0                     # runs judged, since the service started
    failed_runs: int = 0
    last_duration: float | None = None   # seconds
    last_exit_code: int | None = None
    refused: bool = False             # the agent does not allow guest-exec


@dataclasses.dataclass(frozen=True)
class InstanceStatus:
    uuid: str
    name: str
    # None: not on this host; only its maintenance flag is kept.
    phase: Phase | None
    reason: Reason | None = None      # why it was judged failed, if it was
    misses: int = 0                   # consecutive missed intervals
    seconds_since_success: float | None = None   # None: no answer yet
    reported: bool = False
    last_notification: float | None = None   # wall clock, Unix time
    maintenance: bool = False         # excluded by the operator
    recovery_limited: bool = False    # reports held back by the limit
    recent_reports: int = 0           # within the recovery window
    absent_seconds: int | None = None   # not on this host for this long
    heartbeat_age: float | None = None  # kernel heartbeat; None: not used
    starved_intervals: int = 0        # statistics spans it was starved in
    died: str | None = None           # kernel, userspace/agent, none (starved)
    monitored: bool = True            # False: excluded by its policy
    rule: str = ''                    # the policy's rule ('': the config)
    probes: tuple[AppProbeStatus, ...] = ()   # application probes

    @property
    def application(self) -> str | None:
        """An application failure: 'failed' (reported), 'warning'
        (on_failure warn), or None."""
        failing = [p for p in self.probes if p.failing]
        if any(p.on_failure == 'report' for p in failing):
            return 'failed'
        return 'warning' if failing else None

    @property
    def label(self) -> str:
        """The one word shown for the instance (status, metrics label):
        maintenance first, then a policy that excludes it, then the
        recovery limit, then its phase."""
        if self.maintenance or self.phase is None:
            return MAINTENANCE
        if not self.monitored:
            return NOT_MONITORED
        if self.recovery_limited:
            return LIMITED
        return self.phase.value

