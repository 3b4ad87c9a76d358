"""Lane: bounded threads, priorities and keys, close() drops queued work."""

import threading

from masakari_introspect.runtime.lanes import Lane
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


def busy_lane(name, size, count):
    """A lane of ``size`` threads given ``count`` jobs that block."""
    lane, jobs = Lane(name, size), Jobs()
    for i in range(count):
        lane.submit(jobs.job(i))
    return lane, jobs


def finish_on_threads(lane, jobs, name, count):
    """``count`` jobs run at once on as many threads; then they end."""
    until(lambda: jobs.running == count)
    assert len(lane_threads(name)) == count
    jobs.release.set()
    assert lane.close(WAIT) is True


def test_at_most_size_jobs_run_at_once():
    lane, jobs = busy_lane('test', 2, 6)
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
    lane, jobs = busy_lane('wide', 4, 4)
    finish_on_threads(lane, jobs, 'wide', 4)


def test_a_burst_takes_new_threads_while_the_idle_one_has_not_woken():
    # An idle thread counts as idle until it wakes: two jobs submitted
    # before it does must not both wait for it, the lane has room.
    lane = Lane('burst', 2)
    done = threading.Event()
    lane.submit(done.set)
    assert done.wait(WAIT)
    until(lambda: lane._idle == 1)      # its one thread waits for work
    jobs = Jobs()
    with lane._cond:                    # it cannot wake in between
        lane.submit(jobs.job(0))
        lane.submit(jobs.job(1))
    finish_on_threads(lane, jobs, 'burst', 2)


def test_threads_are_daemons():
    lane = Lane('daemon', 1)
    seen = []
    done = threading.Event()
    lane.submit(lambda: (seen.append(threading.current_thread().daemon),
                         done.set()))
    assert done.wait(WAIT)
    assert seen == [True]
    assert lane.close(1.0)


def test_close_drops_queued_jobs_and_waits_for_running_ones():
    lane, jobs = busy_lane('close', 2, 5)
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
    lane = Lane('stuck', 1)
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
    lane = Lane('closed', 2)
    assert lane.close(1.0) is True
    ran = threading.Event()
    lane.submit(ran.set)
    assert lane_threads('closed') == []   # no thread to run it
    assert not ran.is_set()


def test_a_failing_job_does_not_kill_the_lane(caplog):
    lane = Lane('fail', 1)
    done = threading.Event()

    def boom():
        raise RuntimeError('probe blew up')

    lane.submit(boom)
    lane.submit(done.set)
    assert done.wait(WAIT)
    assert any('Job on lane fail failed' in r.getMessage() for r in caplog.records)
    assert lane.close(1.0)


# -- keys and priorities -------------------------------------------------------


def test_a_newer_job_of_the_same_key_replaces_the_queued_one():
    lane = Lane('t', 1)
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
    lane = Lane('t', 1)
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


def test_a_dropped_queued_job_never_runs():
    lane = Lane('drop', 1)
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
