"""Plain values that cross from the libvirt layer into the monitor."""

import dataclasses
import enum


class EventKind(enum.Enum):
    """What happened to a domain, reduced to what the monitor acts on."""

    STARTED = 'started'            # a new QEMU process (boot, restore)
    STOPPED = 'stopped'            # shut off, crashed, destroyed, undefined
    PAUSED = 'paused'              # suspended by a user, an I/O error, ...
    MIGRATING = 'migrating'        # paused for, or arriving by, migration
    SHUTTING_DOWN = 'shutting_down'
    RESUMED = 'resumed'
    REBOOTED = 'rebooted'          # guest reset, no new QEMU process
    AGENT_CONNECTED = 'agent_connected'
    AGENT_DISCONNECTED = 'agent_disconnected'


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    uuid: str
    name: str
    kind: EventKind
    detail: str = ''
    domain_id: int = -1    # the QEMU process's id, when libvirt gave one


@dataclasses.dataclass(frozen=True)
class DomainInfo:
    """A domain as seen by a full listing (start-up and resync)."""

    uuid: str
    name: str
    running: bool          # running; not paused, not shutting down
    has_agent_channel: bool
    domain_id: int = -1    # libvirt's id of the QEMU process, -1 if inactive
    agent_connected: bool = False   # qemu-ga has the port open right now


class HypervisorUnavailable(Exception):
    """The hypervisor connection is down; wait for it to come back."""
