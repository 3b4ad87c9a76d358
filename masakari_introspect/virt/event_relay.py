"""libvirt's domain events, registered on a connection and handed on.

The callbacks run on libvirt's event thread: each turns ``(event, detail)``
into a :class:`DomainEvent` and hands it to ``on_event``, nothing more.
"""

from collections.abc import Callable

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from oslo_log import log as logging

from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import PauseReason
from masakari_introspect.virt import translate

LOG = logging.getLogger(__name__)


def hand_on(callback: Callable[..., None], *args: object) -> None:
    """Call ``callback``; a failure is logged, never raised into libvirt."""
    try:
        callback(*args)
    except Exception:
        LOG.exception('Callback %r failed', callback)


class EventRelay:
    """The domain events the monitor follows, as DomainEvents."""

    def __init__(self, on_event: Callable[[DomainEvent], None]) -> None:
        self._on_event = on_event

    def register(self, conn: 'libvirt.virConnect') -> list[int]:
        """Register every event on ``conn``; the callback ids."""
        return [
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                self._lifecycle, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
                self._reboot, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                self._agent, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG,
                self._watchdog, None),
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                self._metadata, None),
        ]

    def _lifecycle(self, _conn: object, dom: 'libvirt.virDomain',
                   event: int, detail: int, _opaque: object) -> None:
        kind = translate.lifecycle(event, detail)
        if kind is not None:
            self._emit(dom, kind, translate.detail_name(event, detail),
                       translate.pause_reason(event, detail))

    def _reboot(self, _conn: object, dom: 'libvirt.virDomain',
                _opaque: object) -> None:
        self._emit(dom, EventKind.REBOOTED, '')

    def _watchdog(self, _conn: object, dom: 'libvirt.virDomain',
                  action: int, _opaque: object) -> None:
        self._emit(dom, EventKind.WATCHDOG, translate.watchdog_action(action))

    def _metadata(self, _conn: object, dom: 'libvirt.virDomain', mtype: int,
                  nsuri: str | None, _opaque: object) -> None:
        if translate.metadata_element(mtype):
            self._emit(dom, EventKind.METADATA_CHANGED, nsuri or '')

    def _agent(self, _conn: object, dom: 'libvirt.virDomain', state: int,
               reason: int, _opaque: object) -> None:
        kind = translate.agent_lifecycle(state)
        if kind is not None:
            self._emit(dom, kind, translate.agent_reason(reason))

    def _emit(self, dom: 'libvirt.virDomain', kind: EventKind,
              detail: str, pause: PauseReason = PauseReason.NONE) -> None:
        try:
            event = DomainEvent(dom.UUIDString(), dom.name(), kind, detail,
                                dom.ID(), pause)
        except libvirt.libvirtError as exc:
            LOG.warning('Dropped a %s event: %s', kind.value, exc)
            return
        hand_on(self._on_event, event)
