"""The balloon statistics period of each running guest: read once per QEMU
process from its XML, and set live where it is off or longer than wanted
(``[introspection] kernel_heartbeat_period``)."""

from typing import Any

from oslo_log import log as logging

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from masakari_introspect.virt import translate

LOG = logging.getLogger(__name__)

AFFECT_LIVE = 1   # VIR_DOMAIN_AFFECT_LIVE


class BalloonPeriods:
    """``wanted``: the period to set (0: leave every guest's as it is)."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        # uuid -> (QEMU process id, the period in force)
        self._known: dict[str, tuple[int, int]] = {}

    def period(self, dom: Any, uuid: str) -> int:
        """The guest's statistics period (0: no balloon or statistics off),
        set to ``wanted`` first if need be. Raises libvirtError."""
        process = dom.ID()
        known = self._known.get(uuid)
        if known is not None and known[0] == process:
            return known[1]
        current = translate.balloon_period(dom.XMLDesc(0))
        period = current or 0
        if current is not None and self.wanted and (
                current == 0 or current > self.wanted):
            try:
                dom.setMemoryStatsPeriod(self.wanted, AFFECT_LIVE)
                LOG.info('Balloon statistics period of domain %s set to %d s '
                         '(was %d): its kernel heartbeat', uuid, self.wanted,
                         current)
                period = self.wanted
            except libvirt.libvirtError as exc:
                LOG.warning('Cannot set the balloon statistics period of '
                            'domain %s: %s', uuid, exc.get_error_message())
        self._known[uuid] = (process, period)
        return period

    def keep(self, uuids: set[str]) -> None:
        """Forget the domains that are no longer running."""
        for uuid in set(self._known) - uuids:
            del self._known[uuid]
