"""The probe connections: every guest-ping runs on a libvirt connection
of its own, never on the main one (which carries the events, the domain
listing and the statistics).

libvirtd serves at most ``max_client_requests`` (default 5) calls of one
client connection at a time, and a hung agent holds its call for five
seconds or more. The service keeps two pools, one for each probe lane
(``[libvirt] probe_connections`` for healthy guests,
``suspect_connections`` for guests that may be hung), so hung guests
neither starve the probes of healthy ones nor the main connection.
"""

import threading
from collections.abc import Callable
from typing import TypeVar

from oslo_log import log as logging

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.virt import guest
from masakari_introspect.virt import guest_exec
from masakari_introspect.virt.connection import LazyConnection

LOG = logging.getLogger(__name__)

T = TypeVar('T')
# A call on a connection: (the connection or None, what drops it) -> result.
Use = Callable[['libvirt.virConnect | None', guest.Lose], T]


class SideConnection:
    """One probe connection, without events: opened on first use while
    the main connection is up, dropped on a connection error and opened
    again by the next probe."""

    def __init__(self, uri: str, connected: Callable[[], bool]) -> None:
        self._connection = LazyConnection(uri, connected)

    def ping(self, uuid: str, timeout: int, osinfo: bool = False
             ) -> ProbeResult:
        return self.use(lambda conn, lose: guest.ping(conn, uuid, timeout,
                                                      lose, osinfo))

    def use(self, call: 'Use[T]') -> T:
        conn, error = self._connection.get()
        if error:
            LOG.debug('Cannot open the probe connection: %s', error)
        return call(conn, self._drop)

    def close(self) -> None:
        self._connection.close()

    def _drop(self, conn: 'libvirt.virConnect', why: str) -> None:
        if self._connection.drop(conn):
            LOG.info('Probe connection to libvirt lost (%s); reopening it',
                     why)


class SidePool:
    """The probe connections of one lane: a probe goes to the first with
    a free slot of ``slots`` (so that a quiet host opens one or two), else
    to the least busy."""

    def __init__(self, uri: str, connected: Callable[[], bool],
                 connections: int = 1, slots: int = 5) -> None:
        self._sides = [SideConnection(uri, connected)
                       for _ in range(max(connections, 1))]
        self._busy = [0] * len(self._sides)
        self._slots = slots
        self._lock = threading.Lock()

    def ping(self, uuid: str, timeout: int, osinfo: bool = False
             ) -> ProbeResult:
        return self.use(lambda side: side.ping(uuid, timeout, osinfo))

    def use(self, call: Callable[[SideConnection], T]) -> T:
        with self._lock:
            free = [i for i, busy in enumerate(self._busy)
                    if busy < self._slots]
            index = free[0] if free else self._busy.index(min(self._busy))
            self._busy[index] += 1
        try:
            return call(self._sides[index])
        finally:
            with self._lock:
                self._busy[index] -= 1

    def close(self) -> None:
        for side in self._sides:
            side.close()


class ExecPool:
    """Application probes' agent calls (see :mod:`~masakari_introspect.
    virt.guest_exec`) on a pool's connections, each given ``timeout``
    seconds."""

    def __init__(self, pool: SidePool, timeout: int) -> None:
        self._pool = pool
        self._timeout = timeout

    def _send(self, uuid: str, call: Callable[[guest_exec.Send], ExecReply]
              ) -> ExecReply:
        return self._pool.use(lambda side: side.use(
            lambda conn, lose: call(guest_exec.sender(
                conn, uuid, self._timeout, lose))))

    def info(self, uuid: str) -> ExecReply:
        return self._send(uuid, guest_exec.info)

    def start(self, uuid: str, argv: tuple[str, ...]) -> ExecReply:
        return self._send(uuid, lambda send: guest_exec.start(send, argv))

    def status(self, uuid: str, pid: int) -> ExecReply:
        return self._send(uuid, lambda send: guest_exec.status(send, pid))
