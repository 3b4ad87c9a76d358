"""The balloon statistics period of each running guest: read from its XML
once per QEMU process, and set live where it is off or longer than wanted
(``[introspection] kernel_heartbeat_period``); read again when the stamp
says it may have changed since.

Anyone may change the period of a running guest (``virsh dommemstat
--period N --live``, Nova, another tool) and libvirt raises no event for
it; only the live XML shows it (the statistics group of
``getAllDomainStats`` has no period). Reading the XML on every sample would
cost a call per guest per interval, so it is read again only when the stamp
tells the period in hand may be wrong:

* *late*: the stamp is ``2 x period + 1`` seconds old (the heartbeat would
  go stale on it): a longer period, or statistics turned off (0), shows
  exactly so; once per stamp, before the core judges it. A dead kernel
  costs one read.
* *early*: the stamp moved less than one period after the one before (QEMU
  asks one period after each answer): a shorter period, statistics turned
  on again, or a new kernel's first statistics; at most once per
  ``EARLY_SPACING`` seconds for a guest.

A period changed by someone else is followed, never fought: it is set only
once per QEMU process, so an operator who turns statistics off (0) after
that keeps them off, and the guest is judged without a heartbeat until they
are on again (one WARNING).
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.virt import translate

LOG = logging.getLogger(__name__)

AFFECT_LIVE = 1   # VIR_DOMAIN_AFFECT_LIVE
# Seconds between two reads of one guest's XML for an early stamp.
EARLY_SPACING = 30.0


@dataclasses.dataclass
class _Known:
    process: int           # the QEMU process (domain id) it was read for
    period: int            # the period in force (0: off or no balloon)
    balloon: bool          # a virtio balloon at all
    stamp: int | None = None     # the last stamp seen
    checked: int | None = None   # the stamp the XML was last read at
    early_at: float | None = None   # monotonic, the last early read


class BalloonPeriods:
    """``wanted``: the period to set (0: leave every guest's as it is).
    ``clock``: monotonic seconds (the spacing of early reads)."""

    def __init__(self, wanted: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.wanted = wanted
        self._clock = clock
        self._known: dict[str, _Known] = {}

    def period(self, dom: Any, uuid: str, stamp: int | None = None,
               wall: float | None = None) -> int:
        """The guest's statistics period (0: no balloon or statistics off),
        set to ``wanted`` first if need be (a new QEMU process), or read
        again if its ``stamp`` (``balloon.last-update``; None: none),
        sampled by ``wall`` (the wall clock after the call, at the
        latest), says it may have changed. Raises libvirtError."""
        process = dom.ID()
        known = self._known.get(uuid)
        if known is None or known.process != process:
            known = self._first(dom, uuid, process)
            known.stamp = known.checked = stamp
            self._known[uuid] = known
            return known.period
        if known.balloon and stamp is not None:
            if self._late(known, stamp, wall) or self._early(known, stamp):
                known.checked = stamp
                self._reread(dom, uuid, known)
            known.stamp = stamp
        return known.period

    def keep(self, uuids: set[str]) -> None:
        """Forget the domains that are no longer running."""
        for uuid in set(self._known) - uuids:
            del self._known[uuid]

    def _first(self, dom: Any, uuid: str, process: int) -> _Known:
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
        return _Known(process, period, current is not None)

    @staticmethod
    def _late(known: _Known, stamp: int, wall: float | None) -> bool:
        """The stamp would make the heartbeat stale with the period in
        hand, and was not read at yet."""
        return known.period > 0 and wall is not None \
            and stamp != known.checked \
            and wall - stamp >= stale_after(known.period)

    def _early(self, known: _Known, stamp: int) -> bool:
        """The stamp moved sooner than one period (or at all, with
        statistics off) after the one before."""
        if known.stamp is None or stamp == known.stamp:
            return False
        if known.period > 0 and stamp - known.stamp >= known.period:
            return False
        now = self._clock()
        if known.early_at is not None and \
                now - known.early_at < EARLY_SPACING:
            return False
        known.early_at = now
        return True

    def _reread(self, dom: Any, uuid: str, known: _Known) -> None:
        current = translate.balloon_period(dom.XMLDesc(0))
        period = current or 0
        if period == known.period:
            return
        if period == 0:
            LOG.warning('The balloon statistics of domain %s were turned off '
                        '(period was %d s), not by this service: its kernel '
                        'heartbeat is not used until they are on again '
                        '(left as they are; the period is set only once per '
                        'QEMU process)', uuid, known.period)
        else:
            LOG.info('The balloon statistics period of domain %s changed '
                     'from %d to %d s, not by this service: its kernel '
                     'heartbeat follows it (learned again)', uuid,
                     known.period, period)
        known.period = period
        known.balloon = current is not None
