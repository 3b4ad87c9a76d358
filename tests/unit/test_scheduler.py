"""ProbeLane: bounded threads, close() drops queued work; Clockwork ticks."""

import threading
import time

from masakari_introspect.scheduler import Clockwork, ProbeLane

WAIT = 5.0


def until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'condition not met in {timeout:.1f} s')
        time.sleep(0.002)


class Jobs:
    """Jobs that block until released, counting how many run at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self.started = []
        self.finished = []
        self.threads = set()

    def job(self, name):
        def run():
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
                self.started.append(name)
                self.threads.add(threading.current_thread().name)
            try:
                self.release.wait(WAIT)
            finally:
                with self.lock:
                    self.running -= 1
                    self.finished.append(name)
        return run


def test_at_most_size_jobs_run_at_once():
    lane = ProbeLane('test', 2)
    jobs = Jobs()
    for i in range(6):
        lane.submit(jobs.job(i))
    until(lambda: jobs.running == 2)
    assert lane.backlog == 4
    time.sleep(0.05)             # give a third thread a chance to misbehave
    assert jobs.running == 2
    assert jobs.peak == 2
    jobs.release.set()
    until(lambda: len(jobs.finished) == 6)
    assert jobs.peak == 2
    assert sorted(jobs.started) == list(range(6))
    assert len(jobs.threads) <= 2
    assert all(name.startswith('test-') for name in jobs.threads)
    assert lane.close(1.0) is True


def test_jobs_run_concurrently_up_to_size():
    lane = ProbeLane('wide', 4)
    jobs = Jobs()
    for i in range(4):
        lane.submit(jobs.job(i))
    until(lambda: jobs.running == 4)
    assert lane.backlog == 0
    jobs.release.set()
    assert lane.close(WAIT) is True


def test_threads_are_daemons():
    lane = ProbeLane('daemon', 1)
    seen = []
    done = threading.Event()
    lane.submit(lambda: (seen.append(threading.current_thread().daemon),
                         done.set()))
    assert done.wait(WAIT)
    assert seen == [True]
    assert lane.close(1.0)


def test_close_drops_queued_jobs_and_waits_for_running_ones():
    lane = ProbeLane('close', 2)
    jobs = Jobs()
    for i in range(5):
        lane.submit(jobs.job(i))
    until(lambda: jobs.running == 2)
    closer = {}

    def close():
        closer['result'] = lane.close(WAIT)

    thread = threading.Thread(target=close)
    thread.start()
    until(lambda: lane.backlog == 0)
    assert thread.is_alive()          # waiting for the two running jobs
    jobs.release.set()
    thread.join(WAIT)
    assert closer['result'] is True
    assert len(jobs.started) == 2      # the queued three never ran
    assert len(jobs.finished) == 2


def test_close_returns_false_when_running_jobs_do_not_end():
    lane = ProbeLane('stuck', 1)
    jobs = Jobs()
    lane.submit(jobs.job('stuck'))
    lane.submit(jobs.job('queued'))
    until(lambda: jobs.running == 1)
    assert lane.close(0.1) is False
    assert lane.backlog == 0
    jobs.release.set()
    until(lambda: jobs.finished == ['stuck'])
    assert jobs.started == ['stuck']
    assert lane.close(1.0) is True


def test_submit_after_close_is_ignored():
    lane = ProbeLane('closed', 2)
    assert lane.close(1.0) is True
    ran = threading.Event()
    lane.submit(ran.set)
    assert lane.backlog == 0
    assert not ran.wait(0.05)


def test_a_failing_job_does_not_kill_the_lane(caplog):
    lane = ProbeLane('fail', 1)
    done = threading.Event()

    def boom():
        raise RuntimeError('probe blew up')

    lane.submit(boom)
    lane.submit(done.set)
    assert done.wait(WAIT)
    assert any('Probe job failed' in r.getMessage() for r in caplog.records)
    assert lane.close(1.0)


def test_clockwork_calls_tick_and_resync():
    ticks = []
    resyncs = []
    clockwork = Clockwork(probe_interval=0.05, resync_interval=0.05,
                          on_tick=lambda: ticks.append(1),
                          on_resync=lambda: resyncs.append(1))
    clockwork.start()
    try:
        until(lambda: len(ticks) >= 2 and len(resyncs) >= 1)
    finally:
        clockwork.stop()
    count = len(ticks)
    time.sleep(0.15)
    assert len(ticks) <= count + 1     # stopped: no more ticks
    clockwork.stop()                   # idempotent
