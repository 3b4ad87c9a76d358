"""Clockwork: ticks and resyncs, kept on the monotonic pace."""

import threading
import time

import pytest

from masakari_introspect.runtime.scheduler import Clockwork


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
