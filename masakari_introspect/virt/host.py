"""The libvirt connection: events, domain listing and statistics.

One long-lived connection. libvirt's default event loop is registered before
the first connection and runs in a daemon thread. The domain events are
registered on each connection by an :class:`EventRelay`, which turns them
into :class:`DomainEvent` values; the statistics calls are a
:class:`StatisticsReader`'s. When the connection dies (close callback,
keepalive, or an RPC error seen by a call), a reconnect thread opens a new
one with exponential backoff, registers the callbacks again and says so
through ``on_connection``. Guests are pinged on probe connections of their
own (:meth:`LibvirtHost.prober_pool`), never on this one.
"""

import threading
import time
from collections.abc import Callable

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from oslo_log import log as logging

from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import HypervisorUnavailable
from masakari_introspect.core.starvation import VcpuTimes
from masakari_introspect.virt import errors
from masakari_introspect.virt import guest
from masakari_introspect.virt import loop
from masakari_introspect.virt import schedstat
from masakari_introspect.virt.balloon import BalloonPeriods
from masakari_introspect.virt.event_relay import EventRelay
from masakari_introspect.virt.event_relay import hand_on
from masakari_introspect.virt.loop import start_event_loop
from masakari_introspect.virt.side import SidePool
from masakari_introspect.virt.statistics import StatisticsReader

LOG = logging.getLogger(__name__)


class LibvirtHost:
    """The monitor's only view of libvirt."""

    def __init__(self, uri: str, *,
                 on_event: Callable[[DomainEvent], None],
                 on_connection: Callable[[bool], None],
                 keepalive_interval: int = 5, keepalive_count: int = 3,
                 reconnect_interval_max: float = 30.0,
                 opener: Callable[[str], 'libvirt.virConnect'] | None = None,
                 balloons: BalloonPeriods | None = None,
                 on_statistics: Callable[[float, str], None] | None = None
                 ) -> None:
        self._uri = uri
        # vCPU figures from /proc where the guests run here.
        self._statistics = StatisticsReader(
            balloons, on_statistics,
            schedstat.SchedStats() if schedstat.local(uri) else None,
            settle=loop.settle)
        self._opener = opener or (lambda uri: libvirt.open(uri))
        self._events = EventRelay(on_event)
        self._on_connection = on_connection
        self._keepalive = (keepalive_interval, keepalive_count)
        self._backoff_max = reconnect_interval_max
        self._conn: 'libvirt.virConnect | None' = None
        self._callback_ids: list[int] = []
        self._dead: list[tuple['libvirt.virConnect', list[int]]] = []
        self._lock = threading.Lock()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pools: list[SidePool] = []

    # -- connection --------------------------------------------------------

    def connect(self) -> bool:
        """Connect, waiting for libvirtd with backoff; False if stopped."""
        start_event_loop()
        if not self._connect_with_backoff():
            return False
        self._thread = threading.Thread(target=self._reconnect_loop,
                                        name='libvirt-reconnect', daemon=True)
        self._thread.start()
        return True

    def interrupt(self) -> None:
        """Stop waiting for libvirtd (safe from a signal handler)."""
        self._stop.set()
        self._lost.set()

    def close(self) -> None:
        self._stop.set()
        self._lost.set()
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                self._dead.append((conn, self._callback_ids))
        for pool in self._pools:
            pool.close()
        self._bury_dead()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _connect_with_backoff(self) -> bool:
        delay = 1.0
        announced = False
        while not self._stop.is_set():
            try:
                conn = self._open()
            except libvirt.libvirtError as exc:
                conn, error = None, exc.get_error_message()
            if conn is None:
                # Logged outside the except block: oslo.log would append
                # the exception a second time.
                if not announced:
                    LOG.warning('Cannot connect to libvirt at %s yet (%s); '
                                'retrying with backoff up to %.0f s',
                                self._uri, error, self._backoff_max)
                    announced = True
                else:
                    LOG.debug('libvirt still unavailable: %s', error)
                self._pause(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            self._publish(conn)
            LOG.info('Connected to libvirt at %s', self._uri)
            return True
        return False

    def _publish(self, conn: 'libvirt.virConnect') -> None:
        # The "lost" flag is cleared before the connection is published: a
        # loss noticed right after must not be erased.
        self._lost.clear()
        with self._lock:
            self._conn = conn

    def _open(self) -> 'libvirt.virConnect':
        conn = self._opener(self._uri)
        try:
            conn.registerCloseCallback(self._closed, None)
            ids = self._events.register(conn)
            try:
                conn.setKeepAlive(*self._keepalive)
            except libvirt.libvirtError as exc:
                # The local (non-remote) drivers, e.g. test:///, have none.
                LOG.debug('No keepalive on %s: %s', self._uri,
                          exc.get_error_message())
        except libvirt.libvirtError:
            conn.close()
            raise
        self._callback_ids = ids
        return conn

    def _bury_dead(self) -> None:
        """Deregister and close connections given up on (not in callbacks)."""
        with self._lock:
            dead, self._dead = self._dead, []
        for conn, callback_ids in dead:
            for callback_id in callback_ids:
                try:
                    conn.domainEventDeregisterAny(callback_id)
                except libvirt.libvirtError:
                    pass
            for cleanup in (conn.unregisterCloseCallback, conn.close):
                try:
                    cleanup()
                except libvirt.libvirtError:
                    pass

    def _lose(self, conn: 'libvirt.virConnect | None', why: str) -> None:
        with self._lock:
            if conn is None or conn is not self._conn:
                return
            self._conn = None
            self._dead.append((conn, self._callback_ids))
        LOG.warning('Lost the libvirt connection (%s); reconnecting', why)
        self._lost.set()
        hand_on(self._on_connection, False)

    def _pause(self, seconds: float) -> None:
        """Sleep, in short steps so that the main thread sees signals."""
        deadline = time.monotonic() + seconds
        while not self._stop.wait(min(0.5, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                return

    def _reconnect_loop(self) -> None:
        while not self._stop.is_set():
            self._lost.wait()
            if self._stop.is_set():
                return
            with self._lock:
                stale = self._conn
            if stale is not None:
                self._lost.clear()
                continue
            self._bury_dead()
            if self._connect_with_backoff():
                hand_on(self._on_connection, True)

    def _closed(self, conn: 'libvirt.virConnect', reason: int,
                _opaque: object) -> None:
        self._lose(conn, 'close reason %d' % reason)

    # -- queries -----------------------------------------------------------

    def list_domains(self) -> list[DomainInfo]:
        """All active domains; raises HypervisorUnavailable."""
        conn = self._require()
        try:
            domains = conn.listAllDomains(
                libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        except libvirt.libvirtError as exc:
            self._raise_if_connection(conn, exc)
            raise HypervisorUnavailable(exc.get_error_message()) from exc
        found = []
        for dom in domains:
            info = self._describe(conn, dom)
            if info is not None:
                found.append(info)
        return found

    def domain_info(self, uuid: str) -> DomainInfo | None:
        """One domain, or None if it does not exist; raises HypervisorUnavailable."""
        conn = self._require()
        try:
            dom = conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            self._raise_if_connection(conn, exc)
            return None
        return self._describe(conn, dom)

    def _describe(self, conn: 'libvirt.virConnect',
                  dom: 'libvirt.virDomain') -> DomainInfo | None:
        try:
            return guest.describe(dom)
        except libvirt.libvirtError as exc:
            self._raise_if_connection(conn, exc)
            LOG.debug('Domain vanished while being read: %s', exc)
            return None

    def _require(self) -> 'libvirt.virConnect':
        conn = self._conn
        if conn is None:
            raise HypervisorUnavailable('not connected to libvirt')
        return conn

    def _raise_if_connection(self, conn: 'libvirt.virConnect',
                             exc: 'libvirt.libvirtError') -> None:
        if errors.is_connection_error(exc.get_error_code(),
                                      exc.get_error_domain()):
            self._lose(conn, exc.get_error_message())
            raise HypervisorUnavailable(exc.get_error_message()) from exc

    # -- probe connections and statistics -------------------------------------------

    def prober_pool(self, connections: int, slots: int) -> SidePool:
        """A prober on ``connections`` connections of its own with ``slots``
        calls each, opened while the main connection is up, closed with
        it."""
        pool = SidePool(self._uri, lambda: self.connected, connections,
                        slots)
        self._pools.append(pool)
        return pool

    def activity(self) -> list[Activity] | None:
        """Guest work counters of all running domains; None if unknown."""
        conn = self._conn
        if conn is None:
            return None
        return self._statistics.read(conn, self._lose)

    def guests_activity(self, uuids: tuple[str, ...]
                        ) -> list[Activity] | None:
        """The same of these running domains only; None if unknown."""
        conn = self._conn
        if conn is None:
            return None
        return self._statistics.read_guests(conn, self._lose, uuids)

    def vcpus(self) -> dict[str, VcpuTimes] | None:
        """Each running domain's vCPU run time and run delay; None if
        unknown."""
        conn = self._conn
        if conn is None:
            return None
        return self._statistics.vcpus(conn, self._lose)
