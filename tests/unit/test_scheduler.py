"""ProbeLane: bounded threads, close() drops queued work; Clockwork ticks."""

import threading
import time

import pytest

from masakari_introspect.runtime.scheduler import Clockwork, ProbeLane
from tests.unit.fakes import wait_until as until

WAIT = 5.0


def lane_threads(name):
    return [t for t in threading.enumerate()
            if t.name.startswith(name + '-')]


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
    assert len(lane_threads('test')) == 2   # no third thread was started
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
    assert len(lane_threads('wide')) == 4
    jobs.release.set()
    assert lane.close(WAIT) is True


def test_a_burst_takes_new_threads_while_the_idle_one_has_not_woken():
    # An idle thread counts as idle until it wakes: two jobs submitted
    # before it does must not both wait for it, the lane has room.
    lane = ProbeLane('burst', 2)
    done = threading.Event()
    lane.submit(done.set)
    assert done.wait(WAIT)
    until(lambda: lane._idle == 1)      # its one thread waits for work
    jobs = Jobs()
    with lane._cond:                    # it cannot wake in between
        lane.submit(jobs.job(0))
        lane.submit(jobs.job(1))
    until(lambda: jobs.running == 2)
    assert len(lane_threads('burst')) == 2
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
    assert lane.close(0) is False     # queue dropped; two still running
    closer = {}

    def close():
        closer['result'] = lane.close(WAIT)

    thread = threading.Thread(target=close)
    thread.start()
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
    jobs.release.set()
    until(lambda: jobs.finished == ['stuck'])
    assert jobs.started == ['stuck']
    assert lane.close(1.0) is True


def test_submit_after_close_is_ignored():
    lane = ProbeLane('closed', 2)
    assert lane.close(1.0) is True
    ran = threading.Event()
    lane.submit(ran.set)
    assert lane_threads('closed') == []   # no thread to run it
    assert not ran.is_set()


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
    scheduler = FakeScheduler()
    clockwork = Clockwork(probe_interval=10, resync_interval=300,
                          on_tick=lambda: ticks.append(1),
                          on_resync=lambda: resyncs.append(1),
                          scheduler=scheduler)
    assert scheduler.intervals == {'probe-tick': 10, 'resync': 300}
    clockwork.start()
    try:
        assert scheduler.running
        scheduler.jobs['probe-tick']()
        scheduler.jobs['probe-tick']()
        scheduler.jobs['resync']()
        assert (len(ticks), len(resyncs)) == (2, 1)
    finally:
        clockwork.stop()
    assert not scheduler.running       # stopped: no more ticks
    clockwork.stop()                   # idempotent
    assert not scheduler.running


# -- keys and priorities -------------------------------------------------------


def test_a_newer_job_of_the_same_key_replaces_the_queued_one():
    lane = ProbeLane('t', 1)
    gate = threading.Event()
    done = threading.Event()
    started = threading.Event()
    ran = []

    def blocker():
        started.set()
        gate.wait()

    lane.submit(blocker, key='blocker')
    assert started.wait(5)
    lane.submit(lambda: ran.append('old'), key='a')
    lane.submit(lambda: ran.append('new'), key='a')
    lane.submit(done.set, key='z', priority=1)
    gate.set()
    assert done.wait(5)
    assert ran == ['new']


def test_lower_priority_numbers_run_first():
    lane = ProbeLane('t', 1)
    gate = threading.Event()
    ran = []
    done = threading.Event()
    started = threading.Event()

    def blocker():
        started.set()
        gate.wait()

    lane.submit(blocker, key='blocker')
    assert started.wait(5)
    lane.submit(lambda: ran.append('settled'), key='s', priority=100)
    lane.submit(lambda: ran.append('fresh'), key='f', priority=1)
    lane.submit(done.set, key='z', priority=1000)
    gate.set()
    assert done.wait(5)
    assert ran == ['fresh', 'settled']


# -- clock steps ---------------------------------------------------------------


class FakeScheduler:
    """Records the jobs APScheduler would run and their next run times."""

    def __init__(self):
        self.running = False
        self.jobs = {}
        self.intervals = {}
        self.next_run = {}

    def add_job(self, func, trigger, **kwargs):
        self.jobs[kwargs['id']] = func
        self.intervals[kwargs['id']] = kwargs['seconds']

    def modify_job(self, job_id, **changes):
        self.next_run[job_id] = changes['next_run_time']

    def start(self):
        self.running = True

    def shutdown(self, wait=True):
        self.running = False


def clocks():
    mono = {'now': 1000.0}
    wall = {'now': 1.7e9}
    return mono, wall


@pytest.mark.parametrize('step', [-3600.0, +3600.0, -5.0])
def test_a_wall_clock_step_replans_on_the_monotonic_pace(step):
    mono, wall = clocks()
    scheduler = FakeScheduler()
    clockwork = Clockwork(probe_interval=10, resync_interval=300,
                          on_tick=lambda: None, on_resync=lambda: None,
                          scheduler=scheduler,
                          monotonic=lambda: mono['now'],
                          wall=lambda: wall['now'])
    scheduler.jobs['probe-tick']()         # a tick runs ...
    mono['now'] += 4
    wall['now'] += 4 + step                # ... then the clock steps
    assert clockwork.check_clock() == pytest.approx(step)
    due = scheduler.next_run['probe-tick'].timestamp()
    # The next tick is 6 s away on the monotonic clock, whatever the wall
    # clock did; APScheduler alone would wait an hour or fire at once.
    assert due == pytest.approx(wall['now'] + 6)
    assert scheduler.next_run['resync'].timestamp() == pytest.approx(
        wall['now'] + 296)


def test_no_step_no_replanning():
    mono, wall = clocks()
    scheduler = FakeScheduler()
    clockwork = Clockwork(probe_interval=10, resync_interval=300,
                          on_tick=lambda: None, on_resync=lambda: None,
                          scheduler=scheduler,
                          monotonic=lambda: mono['now'],
                          wall=lambda: wall['now'])
    mono['now'] += 7
    wall['now'] += 7.2
    assert clockwork.check_clock() == 0.0
    assert scheduler.next_run == {}


def test_after_a_backward_step_the_real_scheduler_still_ticks():
    ticks = threading.Event()
    mono = {'now': 1000.0}
    clockwork = Clockwork(probe_interval=3600, resync_interval=3600,
                          on_tick=ticks.set, on_resync=lambda: None,
                          monotonic=lambda: mono['now'], wall=time.time)
    clockwork.start()
    try:
        # 3599.8 s pass on the monotonic clock while the wall clock does
        # not move: it stepped back. The tick is due 0.2 s from now.
        mono['now'] += 3599.8
        assert clockwork.check_clock() < -3599
        assert ticks.wait(5)
    finally:
        clockwork.stop()


def test_a_dropped_queued_job_never_runs():
    lane = ProbeLane('drop', 1)
    jobs = Jobs()
    lane.submit(jobs.job(0), key='a')
    until(lambda: jobs.running == 1)
    lane.submit(jobs.job(1), key='b')
    lane.submit(jobs.job(2), key='c')
    assert lane.drop('b') is True
    assert lane.drop('a') is False          # running: not dropped
    jobs.release.set()
    until(lambda: len(jobs.finished) == 2)
    assert sorted(jobs.started) == [0, 2]
    assert lane.close(1.0) is True
