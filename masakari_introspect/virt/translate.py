"""Pure translations of libvirt's event numbers and domain XML.

libvirt's numbers (libvirt-domain.h) are spelled out here so that this module
and its tests need neither libvirt nor libvirtd.
"""

import xml.etree.ElementTree as ElementTree

from oslo_log import log as logging

from masakari_introspect.core.model import BlindSpot
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import PauseReason

LOG = logging.getLogger(__name__)

AGENT_CHANNEL = 'org.qemu.guest_agent.0'

# virDomainEventType
DEFINED, UNDEFINED, STARTED, SUSPENDED, RESUMED, STOPPED, SHUTDOWN, \
    PMSUSPENDED, CRASHED = range(9)

_DETAILS = {
    DEFINED: ('added', 'updated', 'renamed', 'from_snapshot'),
    UNDEFINED: ('removed', 'renamed'),
    STARTED: ('booted', 'migrated', 'restored', 'from_snapshot', 'wakeup',
              'recreated'),
    SUSPENDED: ('paused', 'migrated', 'ioerror', 'watchdog', 'restored',
                'from_snapshot', 'api_error', 'postcopy', 'postcopy_failed'),
    RESUMED: ('unpaused', 'migrated', 'from_snapshot', 'postcopy',
              'postcopy_failed'),
    STOPPED: ('shutdown', 'destroyed', 'crashed', 'migrated', 'saved',
              'failed', 'from_snapshot'),
    SHUTDOWN: ('finished', 'guest', 'host'),
    PMSUSPENDED: ('memory', 'disk'),
    CRASHED: ('panicked', 'crashloaded'),
}

# virConnectDomainEventAgentLifecycleState
AGENT_CONNECTED = 1
AGENT_DISCONNECTED = 2
_AGENT_REASONS = ('unknown', 'domain started', 'channel')


def detail_name(event: int, detail: int) -> str:
    names = _DETAILS.get(event, ())
    return names[detail] if 0 <= detail < len(names) else str(detail)


def lifecycle(event: int, detail: int) -> EventKind | None:
    """The monitor's view of a lifecycle event; None when irrelevant."""
    name = detail_name(event, detail)
    if event == STARTED:
        return EventKind.MIGRATING if name == 'migrated' else (
            EventKind.RESUMED if name == 'wakeup' else EventKind.STARTED)
    if event == SUSPENDED:
        return EventKind.MIGRATING if name in (
            'migrated', 'postcopy') else EventKind.PAUSED
    if event == RESUMED:
        return EventKind.RESUMED
    if event == CRASHED:
        return EventKind.CRASH_LOADED if name == 'crashloaded' \
            else EventKind.CRASHED
    if event == STOPPED:
        return EventKind.STOPPED
    if event == UNDEFINED:
        # The definition is gone; a running domain runs on (transient).
        return EventKind.UNDEFINED
    if event == SHUTDOWN:
        return EventKind.SHUTTING_DOWN
    if event == PMSUSPENDED:
        return EventKind.PAUSED
    return None


# virDomainState values, and the reasons of the paused state.
STATE_PAUSED = 3
STATE_SHUTOFF = 5
STATE_CRASHED = 6
SHUTOFF_CRASHED = 3    # virDomainShutoffReason: destroyed on a crash
_PAUSED_REASONS = ('unknown', 'user', 'migration', 'save', 'dump', 'ioerror',
                   'watchdog', 'from_snapshot', 'shutting_down', 'snapshot',
                   'crashed', 'starting_up', 'postcopy', 'postcopy_failed',
                   'api_error')
# virDomainEventWatchdogAction
_WATCHDOG_ACTIONS = ('none', 'pause', 'reset', 'poweroff', 'shutdown',
                     'debug', 'inject-nmi')


# The details of a SUSPENDED event, as paused-state reasons.
_SUSPENDED_REASONS = {
    'paused': PauseReason.USER, 'migrated': PauseReason.MIGRATION,
    'ioerror': PauseReason.IOERROR, 'watchdog': PauseReason.WATCHDOG,
    'restored': PauseReason.SAVE, 'from_snapshot': PauseReason.FROM_SNAPSHOT,
    'api_error': PauseReason.API_ERROR, 'postcopy': PauseReason.POSTCOPY,
    'postcopy_failed': PauseReason.POSTCOPY_FAILED}


def state_reason(state: int, reason: int) -> PauseReason:
    """Why a domain is not running (NONE when it runs, or is shut off
    other than by a crash: ``on_crash=destroy`` gives CRASHED)."""
    if state == STATE_CRASHED or (state == STATE_SHUTOFF
                                  and reason == SHUTOFF_CRASHED):
        return PauseReason.CRASHED
    if state == STATE_PAUSED and 0 <= reason < len(_PAUSED_REASONS):
        return PauseReason(_PAUSED_REASONS[reason])
    return PauseReason.NONE


def pause_reason(event: int, detail: int) -> PauseReason:
    """Why a lifecycle event paused the domain (NONE if it did not)."""
    if event == SUSPENDED:
        return _SUSPENDED_REASONS.get(detail_name(event, detail),
                                      PauseReason.UNKNOWN)
    if event == PMSUSPENDED:
        return PauseReason.USER
    return PauseReason.NONE


def watchdog_action(action: int) -> str:
    if 0 <= action < len(_WATCHDOG_ACTIONS):
        return _WATCHDOG_ACTIONS[action]
    return str(action)


def agent_lifecycle(state: int) -> EventKind | None:
    if state == AGENT_CONNECTED:
        return EventKind.AGENT_CONNECTED
    if state == AGENT_DISCONNECTED:
        return EventKind.AGENT_DISCONNECTED
    return None


def agent_reason(reason: int) -> str:
    if 0 <= reason < len(_AGENT_REASONS):
        return _AGENT_REASONS[reason]
    return str(reason)


# virDomainMetadataType: title, description, element (an XML namespace's).
METADATA_ELEMENT = 2


def metadata_element(mtype: int) -> bool:
    """A metadata change event about an element (not title, description):
    Nova's, the project's own ``<policy>``, anyone's."""
    return mtype == METADATA_ELEMENT


def agent_channel_state(xml: str) -> str | None:
    """'connected' or 'disconnected' (or '' if libvirt does not say) for
    the guest agent channel of a live domain; None if there is none.

    The channel is recognised by its target name, whatever its socket path.
    Malformed XML is logged and treated as "no channel".
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        LOG.warning('Cannot parse domain XML: %s', exc)
        return None
    for target in root.iterfind('./devices/channel/target'):
        if target.get('name') == AGENT_CHANNEL:
            return target.get('state', '')
    return None


def blind_spots(xml: str) -> tuple[BlindSpot, ...]:
    """Why libvirt's statistics cannot show this guest's work; () when it
    has a disk or a network interface whose counters libvirt reads.

    Counted: disks in QEMU's block layer and interfaces with a host-side
    device (tap, macvtap). Not counted: SR-IOV/hostdev interfaces,
    vhost-user interfaces and disks, passthrough (hostdev) devices.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return ()
    devices = root.find('./devices')
    if devices is None:
        return (BlindSpot.NO_DEVICES,)
    found: list[BlindSpot] = []
    for disk in devices.iterfind('./disk'):
        if disk.get('type') != 'vhostuser':
            return ()
        found.append(BlindSpot.VHOST_USER)
    for nic in devices.iterfind('./interface'):
        kind = nic.get('type')
        if kind == 'hostdev':
            found.append(BlindSpot.HOSTDEV_NIC)
        elif kind == 'vhostuser':
            found.append(BlindSpot.VHOST_USER)
        else:
            return ()
    if devices.find('./hostdev') is not None:
        found.append(BlindSpot.PASSTHROUGH)
    return tuple(dict.fromkeys(found)) or (BlindSpot.NO_DEVICES,)


def balloon_period(xml: str) -> int | None:
    """The statistics period (s; 0: off) of a domain's virtio balloon, or
    None when it has none (``model='none'``, no device, bad XML)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    balloon = root.find('./devices/memballoon')
    if balloon is None or not (balloon.get('model') or '').startswith(
            'virtio'):
        return None
    stats = balloon.find('./stats')
    try:
        return int(stats.get('period', '0')) if stats is not None else 0
    except ValueError:
        return 0
