"""A call stuck inside libvirt is its guest's miss (issue 17, item 5): the
fleet with fake clocks, and the alarm that wakes it."""

import threading

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Sample
from masakari_introspect.core.probing import STUCK_AFTER
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.tracker import Policy
from masakari_introspect.runtime.monitor import OVERDUE_MARGIN
from masakari_introspect.runtime.scheduler import Alarm
from tests.unit.fakes import A, B, FakeClock, domain, make_fleet
from tests.unit.fakes import wait_until

INTERVAL, T, N = 2.0, 1.0, 3         # the functional tests' settings


class Host:
    """A fleet on a fake clock, driven the way the monitor drives it."""

    def __init__(self):
        self.clock = FakeClock()
        self.fleet = make_fleet(
            Policy(failure_threshold=N, boot_grace_period=0,
                   probe_interval=INTERVAL),
            clock=self.clock, wall=FakeClock(1.7e9), probe_timeout=T)
        self.probes = []
        self.reports = []
        self.do(self.fleet.listed([domain(A, 'vm-a'),
                                   domain(B, 'vm-b', domain_id=2)]))

    def do(self, actions):
        for action in actions:
            if isinstance(action, Probe):
                self.probes.append(action)
            elif isinstance(action, Report):
                self.reports.append(self.clock.now)
            elif isinstance(action, Sample):
                self.do(self.fleet.sampled([Activity(A, 0, 0),
                                            Activity(B, 0, 0)]))

    def last(self, uuid):
        return [p for p in self.probes if p.uuid == uuid][-1]

    def answer(self, uuid, outcome=Outcome.OK):
        self.do(self.fleet.result(ProbeResult(uuid, outcome),
                                  self.last(uuid).token))

    def start(self, uuid):
        self.do(self.fleet.started(uuid, self.last(uuid).token))

    def at(self, when):
        self.clock.now = when

    def next_tick(self):
        """One interval later, the tick."""
        self.at(self.clock.now + INTERVAL)
        self.do(self.fleet.tick())

    def misses(self, uuid):
        return self.fleet.watched[uuid].state.misses


def healthy_host():
    host = Host()
    host.next_tick()
    host.answer(A)
    host.answer(B)
    return host


def test_a_call_inside_libvirt_past_the_timeout_plus_a_second_is_a_miss():
    host = healthy_host()
    host.next_tick()
    t0 = host.clock.now
    host.answer(A)
    host.start(B)                       # a worker serves it; no answer
    host.at(t0 + T + STUCK_AFTER - 0.1)
    host.do(host.fleet.overdue())
    assert host.misses(B) == 0          # libvirt may still return it
    host.at(t0 + T + STUCK_AFTER + 0.1)
    host.do(host.fleet.overdue())
    assert host.misses(B) == 1


def test_a_healthy_probe_waiting_for_the_budget_never_counts():
    host = healthy_host()
    host.next_tick()
    t0 = host.clock.now
    host.answer(A)                      # B's probe never leaves its queue
    for n in range(1, 6):
        host.at(t0 + n * INTERVAL - 0.01)
        host.do(host.fleet.overdue())
        host.at(t0 + n * INTERVAL)
        host.do(host.fleet.tick())
        host.answer(A)
    assert host.misses(B) == 0
    assert host.reports == []


def test_an_interval_ending_with_a_call_inside_libvirt_past_the_timeout():
    host = healthy_host()
    host.next_tick()
    t0 = host.clock.now
    host.answer(A)
    host.start(B)
    host.at(t0 + INTERVAL)                     # inside for I > T: no answer came
    host.do(host.fleet.tick())
    assert host.misses(B) == 1
    assert host.misses(A) == 0


def run_hang(held):
    """B hangs; ``held``: another client holds its agent job, so our call
    stays inside libvirt; otherwise libvirt returns a miss after T, and
    later calls take 5 s (its re-synchronisation with the agent). Events in
    time order as the monitor makes them: ticks every I, the overdue check
    T + margin after each, the stuck-call alarm T + 1 s + margin after a
    call starts. Returns the report time after the first probe."""
    host = healthy_host()
    t0 = host.clock.now + INTERVAL      # the hang came just before
    events = []
    for n in range(6):
        events.append((t0 + n * INTERVAL, 'tick'))
        events.append((t0 + n * INTERVAL + T + OVERDUE_MARGIN, 'overdue'))
    returns = {}
    while events and not host.reports:
        events.sort()
        when, kind = events.pop(0)
        host.at(when)
        if kind == 'tick':
            before = len(host.probes)
            host.do(host.fleet.tick())
            host.answer(A)
            if len(host.probes) > before and host.last(B) in \
                    host.probes[before:]:
                host.start(B)
                token = host.last(B).token
                events.append((when + T + STUCK_AFTER + OVERDUE_MARGIN,
                               'overdue'))
                if not held:
                    first = not returns
                    returns[token] = when + (T if first else 5.0)
                    events.append((returns[token], 'return'))
        elif kind == 'return':
            host.answer(B, Outcome.MISS)
        else:
            host.do(host.fleet.overdue())
    assert len(host.reports) == 1
    return host.reports[0] - t0


def test_a_held_agent_call_is_reported_within_the_window_of_a_plain_hang():
    window = (N - 1) * INTERVAL + T + OVERDUE_MARGIN   # after the first probe
    assert run_hang(held=False) <= window
    assert run_hang(held=True) <= window


# -- the alarm -------------------------------------------------------------------------


def test_the_alarm_is_due_only_for_deadlines_not_cleared():
    clock = FakeClock(100.0)
    alarm = Alarm('test', lambda: None, clock=clock)
    with alarm._cond:                   # no thread needed: call due()
        alarm._set.update({1: 103.0, 2: 103.0})
        alarm._heap.extend([(103.0, 1), (103.0, 2)])
    alarm.clear(1)
    clock.advance(2.9)
    assert not alarm.due()
    clock.advance(0.2)
    assert alarm.due()                  # 2 was still set
    assert not alarm.due()              # once


def test_the_alarm_calls_back_once_for_a_call_that_does_not_return():
    fired = []
    done = threading.Event()
    clock = FakeClock(100.0)

    def on_due():
        fired.append(clock.now)
        done.set()

    alarm = Alarm('test', on_due, clock=clock)
    try:
        alarm.set(1, 100.5)             # the call that returns in time
        alarm.set(2, 101.0)             # the one that does not
        alarm.clear(1)
        clock.advance(1.0)
        alarm.set(3, 101.0)             # wakes the waiting thread
        alarm.clear(3)
        wait_until(done.is_set)
        assert fired == [101.0]
    finally:
        alarm.close()
