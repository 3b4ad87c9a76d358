"""What libvirt tells the core, and the enums its verdicts are made of.

The drivers in ``virt/`` turn libvirt's events, listings, statistics and
agent answers into these values (:class:`DomainEvent`, :class:`DomainInfo`,
:class:`Activity`, :class:`ProbeResult`, :class:`DomainStatus`); the core
judges them in the words of :class:`Reason`, :class:`Phase` and
:class:`Verdict`. What the core asks the runtime to do is in
:mod:`masakari_introspect.core.actions`; a report and its delivery in
:mod:`masakari_introspect.core.notification`.

Only frozen dataclasses, enums and exceptions live here; no I/O, no
libvirt, no HTTP.
"""

import dataclasses
import enum

GUEST_PING = '{"execute":"guest-ping"}'
GUEST_OSINFO = '{"execute":"guest-get-osinfo"}'


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
