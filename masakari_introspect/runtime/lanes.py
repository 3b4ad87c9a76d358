"""Lanes: bounded pools of daemon threads for calls into libvirt.

A :class:`Lane` runs jobs from a queue ordered by priority, one entry per
key (a newer submission replaces a queued one), on at most ``size``
threads. The runtime keeps four: the healthy and the suspect probe lanes
(so that hung guests, which hold a thread for seconds, never delay the
probes of healthy ones; the healthy lane also runs application probes'
agent calls as spare jobs), the statistics lane and the forensics lane.
Daemon threads, because a call stuck inside libvirt must not keep the
process alive after a bounded shutdown.
"""

import heapq
import itertools
import threading
from collections.abc import Callable

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Lane:
    """Runs submitted callables on at most ``size`` daemon threads.

    Spare jobs (application probes' agent calls) wait in a queue of their
    own, first in first out, and take a thread only when no other job is
    queued, at most ``spare`` of them at once."""

    def __init__(self, name: str, size: int, spare: int = 0) -> None:
        self._name = name
        self._size = size
        self._spare = spare
        self._heap: list[tuple[int, int, str]] = []
        self._queued: dict[str, tuple[int, Callable[[], None]]] = {}
        self._spares: dict[str, Callable[[], None]] = {}
        self._spare_busy = 0
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._closed = False

    def submit(self, job: Callable[[], None], *, key: str = '',
               priority: int = 0, spare: bool = False) -> None:
        """Queue ``job``; it replaces a queued job of the same key."""
        with self._cond:
            if self._closed:
                return
            seq = next(self._seq)
            key = key or '#%d' % seq
            if spare:
                self._spares.pop(key, None)
                self._spares[key] = job
            else:
                self._queued[key] = (seq, job)
                heapq.heappush(self._heap, (priority, seq, key))
            # An idle thread counts as idle until it wakes: one already
            # woken for an earlier job cannot take this one too.
            if self._threads < self._size and self._idle < self._waiting():
                self._threads += 1
                threading.Thread(target=self._worker, daemon=True,
                                 name='%s-%d' % (self._name, self._threads)
                                 ).start()
            else:
                self._cond.notify()

    def drop(self, key: str, spare: bool = False) -> bool:
        """Drop the queued job of ``key`` (not one running); True if one
        was queued."""
        with self._cond:
            return (self._spares if spare else self._queued).pop(
                key, None) is not None

    @property
    def backlog(self) -> int:
        return len(self._queued)

    @property
    def busy(self) -> int:
        """Jobs running now (a probe stuck inside libvirt included)."""
        return self._busy

    @property
    def spares(self) -> tuple[int, int]:
        """Spare jobs running and queued."""
        return self._spare_busy, len(self._spares)

    def close(self, timeout: float) -> bool:
        """Drop queued work, wait up to ``timeout`` for running work."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._queued.clear()
            self._spares.clear()
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def _waiting(self) -> int:
        """Queued jobs a thread may take now."""
        return len(self._queued) + min(
            len(self._spares), max(self._spare - self._spare_busy, 0))

    def _ready(self) -> bool:
        return bool(self._queued) or bool(
            self._spares and self._spare_busy < self._spare)

    def _take(self) -> tuple[Callable[[], None] | None, bool]:
        """The next job, and whether it is a spare one."""
        while self._heap:
            _priority, seq, key = heapq.heappop(self._heap)
            entry = self._queued.get(key)
            if entry is not None and entry[0] == seq:
                del self._queued[key]
                return entry[1], False
        if self._spares and self._spare_busy < self._spare:
            self._spare_busy += 1
            return self._spares.pop(next(iter(self._spares))), True
        return None, False

    def _worker(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                self._cond.wait_for(lambda: self._ready() or self._closed)
                self._idle -= 1
                if self._closed:
                    self._threads -= 1
                    self._cond.notify_all()
                    return
                job, spare = self._take()
                if job is None:
                    continue
                self._busy += 1
            try:
                job()
            except Exception:
                LOG.exception('Job on lane %s failed', self._name)
            finally:
                with self._cond:
                    self._busy -= 1
                    if spare:
                        self._spare_busy -= 1
                        self._cond.notify()   # another spare may go now
                    if self._closed:       # close() waits for this
                        self._cond.notify_all()
