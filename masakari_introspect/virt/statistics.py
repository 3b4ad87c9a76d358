"""The per-interval statistics call: every running domain's work counters,
its vCPUs' run and wait times and its balloon heartbeat, on the main
connection."""

import time
from collections.abc import Callable

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from oslo_log import log as logging

from masakari_introspect.core.model import Activity
from masakari_introspect.virt import errors
from masakari_introspect.virt import guest
from masakari_introspect.virt.balloon import BalloonPeriods

LOG = logging.getLogger(__name__)


class StatisticsReader:
    """Reads the statistics; says once when the host keeps no vCPU delay."""

    def __init__(self, balloons: BalloonPeriods | None = None,
                 on_statistics: Callable[[float], None] | None = None
                 ) -> None:
        self._balloons = balloons          # None: no kernel heartbeat
        self._on_statistics = on_statistics   # the call's duration, s
        self._delay_checked = False   # vcpu.<n>.delay looked at once

    def read(self, conn: 'libvirt.virConnect', lose: guest.Lose
             ) -> list[Activity] | None:
        """Guest work counters of all running domains; None if unknown.
        A connection error is handed to ``lose``."""
        started = time.monotonic()
        try:
            found = guest.activities(conn, self._balloons)
            if self._on_statistics is not None:
                self._on_statistics(time.monotonic() - started)
            if not self._delay_checked and any(a.vcpus for a in found):
                self._delay_checked = True
                if not any(d for a in found for _t, d in a.vcpus):
                    LOG.info('vCPU run delay (vcpu.<n>.delay) reads 0 for '
                             'every guest: this host kernel keeps no '
                             'scheduler statistics, so starved guests '
                             'cannot be told apart (the starvation rule is '
                             'off)')
            return found
        except libvirt.libvirtError as exc:
            if errors.is_connection_error(exc.get_error_code(),
                                          exc.get_error_domain()):
                lose(conn, exc.get_error_message())
            else:
                LOG.warning('Cannot read domain statistics: %s',
                            exc.get_error_message())
            return None
