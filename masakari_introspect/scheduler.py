"""When probes run, and on which threads.

:class:`Clockwork` wraps APScheduler's background scheduler: it only says
"tick" (every ``probe_interval``) and "resync" (every ``resync_interval``).
:class:`ProbeLane` is a bounded set of daemon threads that run probes; the
monitor keeps two lanes, so that hung guests, which hold a thread for seconds,
never delay the probes of healthy ones. Daemon threads, because a probe stuck
inside libvirt must not keep the process alive after a bounded shutdown.
"""

import collections
import threading
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class Clockwork:
    def __init__(self, *, probe_interval: float, resync_interval: float,
                 on_tick: Callable[[], None],
                 on_resync: Callable[[], None]) -> None:
        self._scheduler = BackgroundScheduler(
            job_defaults={'coalesce': True, 'max_instances': 1,
                          'misfire_grace_time': None})
        self._scheduler.add_job(on_tick, 'interval', seconds=probe_interval,
                                id='probe-tick', name='probe tick')
        self._scheduler.add_job(on_resync, 'interval',
                                seconds=resync_interval, id='resync',
                                name='domain resync')

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


class ProbeLane:
    """Runs submitted callables on at most ``size`` daemon threads."""

    def __init__(self, name: str, size: int) -> None:
        self._name = name
        self._size = size
        self._work: collections.deque[Callable[[], None]] = collections.deque()
        self._cond = threading.Condition()
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._closed = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            self._work.append(job)
            if self._idle == 0 and self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._worker, daemon=True,
                                 name='%s-%d' % (self._name, self._threads)
                                 ).start()
            else:
                self._cond.notify()

    @property
    def backlog(self) -> int:
        return len(self._work)

    def close(self, timeout: float) -> bool:
        """Drop queued work, wait up to ``timeout`` for running work."""
        with self._cond:
            self._closed = True
            self._work.clear()
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def _worker(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                self._cond.wait_for(lambda: self._work or self._closed)
                self._idle -= 1
                if self._closed:
                    self._threads -= 1
                    self._cond.notify_all()
                    return
                job = self._work.popleft()
                self._busy += 1
            try:
                job()
            except Exception:
                LOG.exception('Probe job failed')
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()
