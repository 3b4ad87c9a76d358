"""libvirtd as the scale simulation models it: its worker pool and its
per-connection limit.

libvirtd serves RPCs on ``max_workers`` threads (20 by default); a call
waits in its queue until a worker is free and holds the worker until it
returns (an agent call: until the agent answers or the timeout passes). On
one client connection at most ``max_client_requests`` (5) calls are read at
once. The statistics calls (the bulk one and the vCPU one) take a worker
too. :class:`Libvirtd` counts the monitor's agent calls in flight (from the
moment a lane thread makes the call until it returns, waiting included) and
how long a statistics call waited for a worker.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from masakari_introspect.core.model import ProbeResult

Ping = Callable[[str, int], ProbeResult]
T = TypeVar('T')


class Libvirtd:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = threading.Semaphore(workers) if workers > 0 else None
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0          # agent calls, waiting included
        self.stats_wait_max = 0.0       # s the statistics call waited
        self.worker_wait_max = 0.0      # s any agent call waited

    @contextmanager
    def worker(self) -> Iterator[float]:
        """Hold a worker; yields the seconds waited for it."""
        if self._pool is None:
            yield 0.0
            return
        started = time.monotonic()
        with self._pool:
            yield time.monotonic() - started

    def agent_call(self, ping: Ping, uuid: str, timeout: int) -> ProbeResult:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with self.worker() as waited:
                if waited > self.worker_wait_max:
                    self.worker_wait_max = waited
                return ping(uuid, timeout)
        finally:
            with self._lock:
                self.in_flight -= 1

    def statistics_call(self, read: Callable[[], T]) -> T:
        with self.worker() as waited:
            if waited > self.stats_wait_max:
                self.stats_wait_max = waited
            return read()


class Connections:
    """A prober on connections of its own, each with libvirtd's
    per-connection limit; the first with a free slot is used, else the least
    busy, as the service does."""

    def __init__(self, libvirtd: Libvirtd, ping: Ping, slots: int,
                 connections: int) -> None:
        self._libvirtd = libvirtd
        self._ping = ping
        self._slots = [threading.Semaphore(slots) for _ in range(connections)
                       ] if slots > 0 else []
        self._busy = [0] * max(connections, 1)
        self._size = slots
        self._lock = threading.Lock()

    def ping(self, uuid: str, timeout: int, osinfo: bool = False
             ) -> ProbeResult:
        if not self._slots:
            return self._libvirtd.agent_call(self._ping, uuid, timeout)
        with self._lock:
            free = [i for i, busy in enumerate(self._busy) if busy < self._size]
            index = free[0] if free else self._busy.index(min(self._busy))
            self._busy[index] += 1
        try:
            with self._slots[index]:
                return self._libvirtd.agent_call(self._ping, uuid, timeout)
        finally:
            with self._lock:
                self._busy[index] -= 1
