"""When probes run, and when a libvirt call is overdue.

:class:`Clockwork` wraps APScheduler's background scheduler: it only says
"tick" (every ``probe_interval``) and "resync" (every ``resync_interval``).
APScheduler 3.x plans its interval jobs on the wall clock, so a clock step
(chrony's ``makestep`` at boot, a bad NTP server) would stop the ticks for
as long as the clock went back, or bunch them when it jumped ahead. The
clockwork keeps the pace on the monotonic clock: it remembers when each job
last ran, watches the distance between the two clocks, and when it changes
by more than a second it re-plans every job on the new wall clock, with the
time left to wait taken from the monotonic clock.

:class:`Alarm` calls back when a deadline passes that was not cleared
first: the monitor sets one for every libvirt call a probe makes, so that a
call stuck inside libvirt is noticed without waiting for the next tick.
"""

import datetime
import heapq
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

STEP_TOLERANCE = 1.0    # seconds of disagreement between the two clocks
WATCH_INTERVAL = 1.0    # how often the clocks are compared


class Scheduler(Protocol):
    """What the clockwork needs of APScheduler's scheduler."""

    running: bool

    def add_job(self, func: Callable[..., Any], trigger: str,
                **kwargs: Any) -> Any:
        ...

    def modify_job(self, job_id: str, **changes: Any) -> Any:
        ...

    def start(self) -> None:
        ...

    def shutdown(self, wait: bool = True) -> None:
        ...


def _background() -> Scheduler:
    return BackgroundScheduler(
        timezone=datetime.timezone.utc,
        job_defaults={'coalesce': True, 'max_instances': 1,
                      'misfire_grace_time': None})


class Clockwork:
    def __init__(self, *, probe_interval: float, resync_interval: float,
                 on_tick: Callable[[], None],
                 on_resync: Callable[[], None],
                 scheduler: Scheduler | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._scheduler = scheduler or _background()
        self._monotonic = monotonic
        self._wall = wall
        self._intervals: dict[str, float] = {}
        self._last_run: dict[str, float] = {}
        self._offset = wall() - monotonic()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        for job_id, name, func, interval in (
                ('probe-tick', 'probe tick', on_tick, probe_interval),
                ('resync', 'domain resync', on_resync, resync_interval)):
            self._intervals[job_id] = interval
            self._last_run[job_id] = monotonic()
            self._scheduler.add_job(self._timed(job_id, func), 'interval',
                                    seconds=interval, id=job_id, name=name)

    def start(self) -> None:
        self._scheduler.start()
        self._watcher = threading.Thread(target=self._watch,
                                         name='clock-watch', daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def check_clock(self) -> float:
        """Re-plan the jobs if the wall clock stepped; the step in s."""
        offset = self._wall() - self._monotonic()
        step, self._offset = offset - self._offset, offset
        if abs(step) <= STEP_TOLERANCE:
            return 0.0
        LOG.warning('The wall clock stepped by %+.1f s; keeping the probe '
                    'pace on the monotonic clock', step)
        now_mono, now_wall = self._monotonic(), self._wall()
        for job_id, interval in self._intervals.items():
            left = self._last_run[job_id] + interval - now_mono
            due = now_wall + min(max(left, 0.0), interval)
            self._scheduler.modify_job(job_id, next_run_time=(
                datetime.datetime.fromtimestamp(due, datetime.timezone.utc)))
        return step

    def _timed(self, job_id: str, func: Callable[[], None]
               ) -> Callable[[], None]:
        def run() -> None:
            self._last_run[job_id] = self._monotonic()
            func()
        run.__name__ = getattr(func, '__name__', job_id)
        return run

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self.check_clock()
            except Exception:
                LOG.exception('Cannot re-plan the probe schedule')


class Alarm:
    """Calls ``on_due`` on a daemon thread of its own once a deadline set
    with :meth:`set` passes without :meth:`clear`; deadlines due together
    call it once. Monotonic clock."""

    def __init__(self, name: str, on_due: Callable[[], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._name = name
        self._on_due = on_due
        self._clock = clock
        self._heap: list[tuple[float, int]] = []
        self._set: dict[int, float] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def set(self, key: int, at: float) -> None:
        with self._cond:
            if self._closed:
                return
            self._set[key] = at
            heapq.heappush(self._heap, (at, key))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0] == (at, key):
                self._cond.notify()     # earlier than what it waits for

    def clear(self, key: int) -> None:
        with self._cond:
            self._set.pop(key, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def due(self) -> bool:
        """Drop deadlines that passed or were cleared, up to the first
        one still set and to come; True if one still set had passed."""
        now, fired = self._clock(), False
        while self._heap:
            at, key = self._heap[0]
            current = self._set.get(key) == at
            if current and at > now:
                break
            heapq.heappop(self._heap)
            if current:
                del self._set[key]
                fired = True
        return fired

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                fired = self.due()
                if not fired:
                    wait = self._heap[0][0] - self._clock() \
                        if self._heap else None
                    self._cond.wait(wait)
                    continue
            try:
                self._on_due()
            except Exception:
                LOG.exception('Alarm %s failed', self._name)
