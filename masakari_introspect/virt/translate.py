"""Pure translations of libvirt's event numbers and domain XML.

libvirt's numbers (libvirt-domain.h) are spelled out here so that this module
and its tests need neither libvirt nor libvirtd.
"""

import xml.etree.ElementTree as ElementTree

from oslo_log import log as logging

from masakari_introspect.core.model import EventKind

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
        return EventKind.CRASHED
    if event in (STOPPED, UNDEFINED):
        return EventKind.STOPPED
    if event == SHUTDOWN:
        return EventKind.SHUTTING_DOWN
    if event == PMSUSPENDED:
        return EventKind.PAUSED
    return None


# virDomainState values, and the reasons of the paused state.
STATE_PAUSED = 3
STATE_CRASHED = 6
_PAUSED_REASONS = ('unknown', 'user', 'migration', 'save', 'dump', 'ioerror',
                   'watchdog', 'from_snapshot', 'shutting_down', 'snapshot',
                   'crashed', 'starting_up', 'postcopy', 'postcopy_failed',
                   'api_error')
# virDomainEventWatchdogAction
_WATCHDOG_ACTIONS = ('none', 'pause', 'reset', 'poweroff', 'shutdown',
                     'debug', 'inject-nmi')


def state_reason(state: int, reason: int) -> str:
    """Why a domain is not running, as a word: 'ioerror', 'user', ..."""
    if state == STATE_CRASHED:
        return 'crashed'
    if state == STATE_PAUSED and 0 <= reason < len(_PAUSED_REASONS):
        return _PAUSED_REASONS[reason]
    return ''


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
