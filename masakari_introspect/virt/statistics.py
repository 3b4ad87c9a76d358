"""The per-interval statistics calls, on the main connection.

The bulk call: every running domain's work counters and its balloon
heartbeat (``getAllDomainStats``; its block and balloon groups ask each
QEMU, so a starved QEMU holds it up); the same of a few domains
(``domainListGetStats``) when a late heartbeat would go stale between two
bulk calls, never beside one. The vCPU call: each domain's vCPU
run and wait times, the starvation evidence, which must come in time
however starved a QEMU is: read from the host's scheduler statistics where
the guests run here (:mod:`masakari_introspect.virt.schedstat`), else
through libvirt's ``VCPU`` group. That group takes each domain's job when
it can (to ask QEMU), and a bulk call that finds a domain's job taken
(``NOWAIT``) leaves its block and balloon figures out (a disk counter read
as 0 would look like work on the next sample), so through libvirt the two
calls are never made at once: the vCPU call then waits for a bulk call in
flight, as it did when it was part of it.

The bulk call's answer is handed on only after every libvirt event sent
before it (a reset's REBOOTED among them) has been handed on: one more round
trip on the connection (libvirtd writes its events and answers on it in
order), then libvirt's event loop is let run the callbacks of what came in
(``settle``). A reset before the call reached QEMU came before its answer:
the heartbeat is reset before it judges the stamp, and the old kernel's
last beat, stale while the new kernel boots, is no dead kernel.
"""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from oslo_log import log as logging

from masakari_introspect.core.model import Activity
from masakari_introspect.core.starvation import VcpuTimes
from masakari_introspect.virt import errors
from masakari_introspect.virt import guest
from masakari_introspect.virt.balloon import BalloonPeriods
from masakari_introspect.virt.schedstat import SchedStats

LOG = logging.getLogger(__name__)

T = TypeVar('T')

# Seconds a sample waits for libvirt's event loop to hand on the events
# that came before it (it takes well under a millisecond).
SETTLE_TIMEOUT = 5.0


class StatisticsReader:
    """Makes the statistics calls; says once when the host keeps no vCPU
    delay, and once when the vCPU figures cannot be read from /proc."""

    def __init__(self, balloons: BalloonPeriods | None = None,
                 on_statistics: Callable[[float, str], None] | None = None,
                 sched: SchedStats | None = None,
                 settle: Callable[[float], bool] | None = None) -> None:
        self._balloons = balloons          # None: no kernel heartbeat
        # Runs the event callbacks of what came in (None: not waited for).
        self._settle = settle
        self._unsettled = False            # said once
        # A call's duration, s, and which: bulk or vcpu.
        self._on_statistics = on_statistics
        self._sched = sched                # None: through libvirt
        self._delay_checked = False   # vcpu.<n>.delay looked at once
        self._sched_failed = False    # said once
        self._libvirt = threading.Lock()   # no two getAllDomainStats

    def read(self, conn: 'libvirt.virConnect', lose: guest.Lose
             ) -> list[Activity] | None:
        """Guest work counters of all running domains; None if unknown.
        A connection error is handed to ``lose``."""
        def bulk() -> list[Activity]:
            with self._libvirt:
                return guest.activities(conn, self._balloons)
        found = self._call('bulk', conn, lose, bulk)
        if found is not None and self._settle is not None:
            self._after_events(conn, self._settle)
        return found

    def _after_events(self, conn: 'libvirt.virConnect',
                      settle: Callable[[float], bool]) -> None:
        """Return once the events libvirtd sent before the call's answer
        have been handed on (see the module's docstring)."""
        try:
            conn.getLibVersion()
        except libvirt.libvirtError as exc:
            # The connection's loss is seen by the next call.
            LOG.debug('No round trip after the statistics call: %s',
                      exc.get_error_message())
        if settle(SETTLE_TIMEOUT):
            self._unsettled = False
        elif not self._unsettled:
            self._unsettled = True
            LOG.warning('libvirt\'s event loop did not run for %.0f s: '
                        'statistics are judged without waiting for the '
                        'events that came before them', SETTLE_TIMEOUT)

    def read_guests(self, conn: 'libvirt.virConnect', lose: guest.Lose,
                    uuids: tuple[str, ...]) -> list[Activity] | None:
        """The same counters of these running domains only (a late
        heartbeat's sample); None if unknown. Never beside another call
        that reads the balloon through the domain's job."""
        def some() -> list[Activity]:
            with self._libvirt:
                return guest.activities_of(conn, uuids, self._balloons)
        found = self._call('guests', conn, lose, some)
        if found is not None and self._settle is not None:
            self._after_events(conn, self._settle)
        return found

    def vcpus(self, conn: 'libvirt.virConnect', lose: guest.Lose
              ) -> dict[str, VcpuTimes] | None:
        """Each running domain's vCPU run time and run delay, by UUID;
        None if unknown."""
        found = self._call('vcpu', conn, lose, lambda: self._vcpus(conn))
        if found and not self._delay_checked and any(found.values()):
            self._delay_checked = True
            if not any(d for times in found.values() for _t, d in times):
                LOG.info('vCPU run delay (vcpu.<n>.delay) reads 0 for '
                         'every guest: this host kernel keeps no '
                         'scheduler statistics, so starved guests '
                         'cannot be told apart (the starvation rule is '
                         'off)')
        return found

    def _vcpus(self, conn: 'libvirt.virConnect') -> dict[str, VcpuTimes]:
        if self._sched is not None:
            found = guest.vcpu_times_local(conn, self._sched)
            if found is not None:
                return found
            if not self._sched_failed:
                self._sched_failed = True
                LOG.warning('Cannot read the scheduler statistics of any '
                            'running guest\'s vCPU threads under /proc (the '
                            'monitor needs to read /run/libvirt/qemu/*.pid '
                            'and /proc); reading them through libvirt, '
                            'which waits for a starved guest\'s QEMU')
        with self._libvirt:
            return guest.vcpu_times(conn)

    def _call(self, call: str, conn: 'libvirt.virConnect', lose: guest.Lose,
              read: Callable[[], T]) -> T | None:
        """One statistics call, timed; None if it failed."""
        started = time.monotonic()
        try:
            found = read()
        except libvirt.libvirtError as exc:
            if errors.is_connection_error(exc.get_error_code(),
                                          exc.get_error_domain()):
                lose(conn, exc.get_error_message())
            else:
                LOG.warning('Cannot read domain statistics (%s call): %s',
                            call, exc.get_error_message())
            return None
        took = time.monotonic() - started
        LOG.debug('Statistics call (%s) took %.3f s', call, took)
        if self._on_statistics is not None:
            self._on_statistics(took, call)
        return found
