"""Every plain value that crosses a seam: events, probe results, records,
notifications and their delivery.

Only frozen dataclasses and enums live here; no I/O, no libvirt, no HTTP.
"""

import dataclasses
import datetime
import enum
import uuid as uuidlib
from typing import Any

from masakari_introspect.core.app_run import AppRun

GUEST_PING = '{"execute":"guest-ping"}'
GUEST_OSINFO = '{"execute":"guest-get-osinfo"}'
NOTIFICATIONS_PATH = '/notifications'
EVENT = 'QEMU_GUEST_AGENT_ERROR'
VIR_DOMAIN_EVENT = 'STOPPED_FAILED'


# -- from libvirt ------------------------------------------------------------


class EventKind(enum.Enum):
    """What happened to a domain, reduced to what the monitor acts on."""

    STARTED = 'started'            # a new QEMU process (boot, restore)
    STOPPED = 'stopped'            # shut off, crashed, destroyed
    UNDEFINED = 'undefined'        # lost its definition; may still run
    PAUSED = 'paused'              # suspended by a user, an I/O error, ...
    MIGRATING = 'migrating'        # paused for, or arriving by, migration
    SHUTTING_DOWN = 'shutting_down'
    RESUMED = 'resumed'
    REBOOTED = 'rebooted'          # guest reset, no new QEMU process
    AGENT_CONNECTED = 'agent_connected'
    AGENT_DISCONNECTED = 'agent_disconnected'
    CRASHED = 'crashed'            # guest panic (pvpanic), domain kept
    CRASH_LOADED = 'crash_loaded'  # panic with a crash kernel: kdump runs
    WATCHDOG = 'watchdog'          # detail: the watchdog's action
    METADATA_CHANGED = 'metadata_changed'   # its <metadata> changed


class PauseReason(enum.Enum):
    """Why a domain is paused (libvirt's paused-state or event reason)."""

    NONE = ''                  # running, or libvirt gave no reason
    UNKNOWN = 'unknown'
    USER = 'user'
    MIGRATION = 'migration'
    SAVE = 'save'
    DUMP = 'dump'
    IOERROR = 'ioerror'
    WATCHDOG = 'watchdog'
    FROM_SNAPSHOT = 'from_snapshot'
    SHUTTING_DOWN = 'shutting_down'
    SNAPSHOT = 'snapshot'
    CRASHED = 'crashed'        # also the crashed state (pvpanic, preserve)
    STARTING_UP = 'starting_up'
    POSTCOPY = 'postcopy'
    POSTCOPY_FAILED = 'postcopy_failed'
    API_ERROR = 'api_error'

    @property
    def failure(self) -> bool:
        """Paused by a failure, not by someone's choice."""
        return self in (PauseReason.IOERROR, PauseReason.WATCHDOG,
                        PauseReason.API_ERROR, PauseReason.CRASHED)


class BlindSpot(enum.Enum):
    """Why libvirt's statistics cannot show a guest's own work."""

    NO_DEVICES = 'no disk and no network interface'
    HOSTDEV_NIC = 'an SR-IOV/hostdev network interface'
    VHOST_USER = 'a vhost-user device'
    PASSTHROUGH = 'a passthrough (hostdev) device'


class Reason(enum.Enum):
    """Why an instance was judged failed (logs, status, metrics)."""

    UNRESPONSIVE = 'unresponsive'    # the agent did not answer in time
    DISCONNECTED = 'disconnected'    # the agent's port is closed
    BUSY = 'busy'                    # another caller held the agent
    ERROR = 'error'                  # the agent answered nonsense
    FAILURE_PAUSE = 'failure_pause'  # paused by an I/O error, watchdog...
    CRASHED = 'crashed'              # guest kernel panic (pvpanic)
    WATCHDOG = 'watchdog'            # watchdog expired, guest left as is
    INACTIVE = 'inactive'            # agent failed, then the guest idled
    BOOT_HANG = 'boot_hang'          # a known agent never came up
    KERNEL_HUNG = 'kernel_hung'      # the kernel heartbeat stopped
    APPLICATION = 'application'      # an application probe kept failing


# -- a verdict ------------------------------------------------------------------


class Phase(enum.Enum):
    """Where one instance stands (status, metrics, the check)."""

    GRACE = 'grace'        # just (re)started: misses do not count yet
    HEALTHY = 'healthy'    # the agent answered in the last interval
    FAILING = 'failing'    # 1 .. threshold-1 consecutive missed intervals
    ACTIVE = 'agent failed, guest active'   # not reported: it works
    FAILED = 'failed'      # reported; waiting for recovery
    NO_AGENT = 'no_agent'  # grace over, agent never answered, not reported
    PAUSED = 'paused'      # paused, migrating, shutting down: not probed
    FAILURE_PAUSE = 'failure_pause'   # paused by an error; not probed
    AGENT_LOST = 'agent lost, kernel alive'   # port closed, heartbeat live
    KDUMP = 'writing a crash dump'   # crash loaded: no verdict for a while


class Verdict(enum.Enum):
    """What the state machine decided on one input."""

    NONE = 'none'
    REPORT = 'report'                  # notify Masakari now
    NEVER_ANSWERED = 'never_answered'  # warn once; not reported
    RECOVERED = 'recovered'            # answered after misses or a report
    ACTIVE = 'active'                  # agent failed but the guest works
    HELD = 'held'                      # a failure, not reported: maintenance


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    uuid: str
    name: str
    kind: EventKind
    detail: str = ''
    domain_id: int = -1    # the QEMU process's id, when libvirt gave one
    pause: PauseReason = PauseReason.NONE   # of a PAUSED event


@dataclasses.dataclass(frozen=True)
class ProbeElement:
    """One ``<probe>`` of a domain's ``<policy>`` metadata, unchecked."""

    attributes: tuple[tuple[str, str], ...] = ()
    exec: tuple[str, ...] = ()     # the texts of its <arg> children


@dataclasses.dataclass(frozen=True)
class PolicyElement:
    """A domain's own ``<policy>`` metadata element as read from its XML:
    attribute texts, unchecked (the core checks them against the rules of
    the policy file: :mod:`masakari_introspect.core.rules`)."""

    settings: tuple[tuple[str, str], ...] = ()
    probes: tuple[ProbeElement, ...] = ()
    unknown: tuple[str, ...] = ()  # child elements that are not <probe>


@dataclasses.dataclass(frozen=True)
class DomainInfo:
    """A domain as seen by a full listing (start-up and resync)."""

    uuid: str
    name: str
    running: bool          # running; not paused, not shutting down
    has_agent_channel: bool
    domain_id: int = -1    # libvirt's id of the QEMU process, -1 if inactive
    agent_connected: bool = False   # qemu-ga has the port open right now
    state_reason: PauseReason = PauseReason.NONE   # when not running
    # Set when libvirt can count none of the guest's disk or NIC work.
    blind_spots: tuple[BlindSpot, ...] = ()
    # Nova's metadata (None: not there): <nova:name>, <nova:flavor name>,
    # <nova:owner><nova:project uuid>.
    display_name: str | None = None
    flavor: str | None = None
    project: str | None = None
    # The domain's own <policy> element (None: none).
    policy: PolicyElement | None = None


@dataclasses.dataclass(frozen=True)
class Activity:
    """Counters of the guest's own work, from one statistics sample."""

    uuid: str
    disk_requests: int    # read + write requests, all disks
    packets_sent: int     # transmitted packets, all interfaces
    # The kernel heartbeat: balloon.last-update (QEMU's host wall clock,
    # whole seconds) or None when the sample has none, and the guest's
    # balloon statistics period (0: no balloon or statistics off).
    heartbeat: int | None = None
    heartbeat_period: int = 0


class HypervisorUnavailable(Exception):
    """The hypervisor connection is down; wait for it to come back."""


class Power(enum.Enum):
    """A domain's state as a local recovery sees it."""

    RUNNING = 'running'     # running, blocked, being shut down, suspended
    PAUSED = 'paused'       # paused on purpose (operator, migration, save)
    STUCK = 'stuck'         # paused by an I/O error, a watchdog or a crash
    SHUT_OFF = 'shut off'   # inactive (after a crash with on_crash=destroy)


@dataclasses.dataclass(frozen=True)
class DomainStatus:
    """One domain, read just before a local recovery acts on it."""

    domain_id: int         # -1 when shut off
    persistent: bool
    power: Power
    reason: str = ''       # libvirt's reason word, for the log


class DomainActionFailed(Exception):
    """A libvirt call on one domain failed; ``gone``: no such domain."""

    def __init__(self, message: str, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


# -- a probe ------------------------------------------------------------------


class Outcome(enum.Enum):
    """What one probe says about the guest (not about libvirt or us)."""

    OK = 'ok'                    # the agent answered
    AGENT_ERROR = 'agent_error'  # the agent answered with an error: alive
    MISS = 'miss'                # no answer in time
    DISCONNECTED = 'disconnected'  # the agent is not connected
    NOT_RUNNING = 'not_running'  # paused or shut off: a state change
    GONE = 'gone'                # the domain no longer exists
    NOT_CONFIGURED = 'not_configured'  # no guest agent channel
    BUSY = 'busy'                # another caller holds the agent
    JOB = 'job'                  # no answer while a domain job holds it
    CONNECTION = 'connection'    # the libvirt connection failed, not the guest
    ERROR = 'error'              # any other libvirt error: a miss


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    uuid: str
    outcome: Outcome
    detail: str = ''
    duration: float = 0.0
    error_code: int | None = None
    pause: PauseReason = PauseReason.NONE   # why NOT_RUNNING
    # guest-get-osinfo's id when the probe asked (osinfo): '' if the agent
    # did not tell; None if not asked
    os_id: str | None = None


# -- what survives a restart ---------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Remembered:
    domain_id: int
    answered: bool
    reported: bool
    known: bool = False    # the agent answered in some boot on this host
    reports: tuple[float, ...] = ()   # wall-clock times of recent reports
    limited: bool = False  # a report is held back by the recovery limit


# -- a report and its delivery --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Notification:
    """A decided report of one failed instance, as sent to Masakari.

    ``hostname`` is the host named when the report was decided; the sender
    replaces it by its configured host when sending. ``instance_name``,
    ``reason`` (e.g. 'unresponsive', 'crashed', 'watchdog') and
    ``forensics`` (a folder) are for the local recovery drivers and the
    logs; they are never part of the body posted to Masakari.
    """

    instance_uuid: str
    hostname: str
    generated_time: str
    id: str = ''
    instance_name: str = ''
    reason: str = ''
    forensics: str = ''

    @classmethod
    def create(cls, instance_uuid: str, hostname: str,
               when: datetime.datetime | None = None, *,
               instance_name: str = '', reason: str = '',
               forensics: str = '') -> 'Notification':
        when = when or datetime.datetime.now(datetime.timezone.utc)
        # Whole seconds: a database that drops microseconds still gives
        # back exactly the stamp sent (the restart check matches on it).
        stamp = when.astimezone(datetime.timezone.utc).replace(
            tzinfo=None, microsecond=0)
        return cls(instance_uuid=instance_uuid, hostname=hostname,
                   generated_time=stamp.isoformat(),
                   id=str(uuidlib.uuid4()), instance_name=instance_name,
                   reason=reason, forensics=forensics)

    def body(self) -> dict[str, Any]:
        return {'notification': {
            'type': 'VM',
            'hostname': self.hostname,
            'generated_time': self.generated_time,
            'payload': {
                'event': EVENT,
                'instance_uuid': self.instance_uuid,
                'vir_domain_event': VIR_DOMAIN_EVENT,
            },
        }}


class Delivery(enum.Enum):
    """What became of one attempt to act on a notification."""

    DELIVERED = 'delivered'    # 2xx, or the local action succeeded
    DUPLICATE = 'duplicate'    # 409 duplicate: Masakari already has it
    MAINTENANCE = 'maintenance'  # 409, host on maintenance: wait, resend
    REJECTED = 'rejected'      # 400, 401, 403, ...: fix the configuration
    TRANSIENT = 'transient'    # 5xx, timeout, connection, failed hook: retry
    UNRECOVERABLE = 'unrecoverable'  # cannot be done at all: the entry ends

    @property
    def done(self) -> bool:
        """Nothing more to do: the entry leaves the spool."""
        return self in (Delivery.DELIVERED, Delivery.DUPLICATE,
                        Delivery.UNRECOVERABLE)


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    status: int | None
    message: str


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


@dataclasses.dataclass(frozen=True)
class Persisted:
    """The state to write to disk."""

    records: dict[str, Remembered]
    maintenance: frozenset[str]
    absent: dict[str, float]


Action = Probe | Lookup | Sample | SampleVcpus | Report | Withdraw | \
    Limited | Save | AppRun | Unqueue


@dataclasses.dataclass(frozen=True)
class Settings:
    hostname: str
    probe_timeout: float = 2.0
    max_recoveries: int = 3
    recovery_window: float = 3600.0
    # A probe not back after this long is abandoned and sent again.
    probe_deadline: float = 60.0
    # Maintenance flags and history of instances gone this long are dropped.
    forget_after: float = 7 * 86400.0
