"""The monitor wired to a fake hypervisor and a fake outbox.

The real owner thread and the real probe lanes run; the test drives them with
``tick()``, ``resync()`` and ``post_event()`` and reads state through
``query()`` (which runs on the owner thread, so reading is race-free).

Pings are stepped: each one blocks in the fake hypervisor until the test
lets it answer. A "round" lets the previous ping of one instance answer, then
ticks until the next ping of that instance has started. The monitor only
dispatches a probe once the previous result was handled, so right after
round k, the results of rounds 1..k-1 are handled and the k-th is not.
"""

import collections
import threading
import time

import pytest

from masakari_introspect.model import (
    DomainEvent,
    DomainInfo,
    EventKind,
    HypervisorUnavailable,
)
from masakari_introspect.monitor import Monitor, Settings
from masakari_introspect.model import Outcome, ProbeResult
from masakari_introspect.store import Remembered, StateStore
from masakari_introspect.tracker import Policy

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'
C = '00000000-0000-0000-0000-00000000000c'
D = '00000000-0000-0000-0000-00000000000d'
HOST = 'compute-1'
WAIT = 5.0

OK = Outcome.OK
MISS = Outcome.MISS


class FakeClock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


class FakeHypervisor:
    def __init__(self):
        self.lock = threading.Lock()
        self.domains = {}
        self.scripts = {}
        self.defaults = {}
        self.durations = {}
        self.stepped = {}
        self.calls = collections.Counter()
        self.timeouts = []
        self.info_calls = []
        self.waiting = {}
        self.all_gates = []
        self.unavailable = False

    def add(self, uuid, *, script=(), default=OK, running=True,
            channel=True, domain_id=1, stepped=True):
        self.domains[uuid] = DomainInfo(uuid, 'vm-' + uuid[-1], running,
                                        channel, domain_id)
        self.scripts[uuid] = collections.deque(script)
        self.defaults[uuid] = default
        self.stepped[uuid] = stepped

    def set_domain_id(self, uuid, domain_id):
        info = self.domains[uuid]
        self.domains[uuid] = DomainInfo(info.uuid, info.name, info.running,
                                        info.has_agent_channel, domain_id)

    def list_domains(self):
        if self.unavailable:
            raise HypervisorUnavailable('libvirtd is down')
        return list(self.domains.values())

    def domain_info(self, uuid):
        self.info_calls.append(uuid)
        if self.unavailable:
            raise HypervisorUnavailable('libvirtd is down')
        return self.domains.get(uuid)

    def ping(self, uuid, timeout):
        gate = None
        with self.lock:
            self.calls[uuid] += 1
            self.timeouts.append(timeout)
            script = self.scripts.get(uuid)
            outcome = script.popleft() if script else self.defaults[uuid]
            duration = self.durations.get(uuid, 0.001)
            if self.stepped[uuid]:
                gate = threading.Event()
                self.waiting[uuid] = gate
                self.all_gates.append(gate)
        if gate is not None:
            gate.wait(WAIT)
        return ProbeResult(uuid, outcome, detail=outcome.value,
                           duration=duration)

    def answer(self, uuid):
        """Let the blocked ping of ``uuid`` (if any) return its result."""
        with self.lock:
            gate = self.waiting.pop(uuid, None)
        if gate is not None:
            gate.set()

    def release_all(self):
        with self.lock:
            self.stepped = dict.fromkeys(self.stepped, False)
            self.waiting.clear()
            for gate in self.all_gates:
                gate.set()


class FakeOutbox:
    def __init__(self, *errors):
        self.errors = collections.deque(errors)
        self.attempts = 0
        self.queued = []

    def submit(self, notification):
        self.attempts += 1
        if self.errors:
            raise self.errors.popleft()
        self.queued.append(notification)
        return True


def until(predicate, timeout=WAIT, what='condition'):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'{what} not met within {timeout:.1f} s')
        time.sleep(0.001)


def on_owner(monitor, func):
    return monitor.query(func).result(WAIT)


def barrier(monitor):
    on_owner(monitor, lambda: None)


def snapshot(monitor):
    return {r['uuid']: r for r in on_owner(monitor, monitor.snapshot)}


def probe_round(monitor, hv, uuid):
    """Let the last ping of ``uuid`` answer; start (and block) the next."""
    before = hv.calls[uuid]
    hv.answer(uuid)
    deadline = time.monotonic() + WAIT
    while hv.calls[uuid] == before:
        assert time.monotonic() < deadline, f'no probe of {uuid}'
        monitor.tick()
        barrier(monitor)
        end = time.monotonic() + 0.02
        while hv.calls[uuid] == before and time.monotonic() < end:
            time.sleep(0.0005)
    assert hv.calls[uuid] == before + 1


def rounds(monitor, hv, uuid, count):
    for _ in range(count):
        probe_round(monitor, hv, uuid)


# After a round, every earlier result of the instance is handled.
settle = probe_round


def policy(threshold=3, grace=0, never=False):
    return Policy(failure_threshold=threshold, boot_grace_period=grace,
                  report_agent_never_answered=never)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make(clock):
    started = []

    def make(hv, pol, outbox=None, store=None, **settings):
        outbox = outbox if outbox is not None else FakeOutbox()
        monitor = Monitor(hv, pol, Settings(hostname=HOST, **settings),
                          outbox, store=store, clock=clock)
        monitor.start()
        started.append((monitor, hv))
        return monitor, outbox

    yield make
    for monitor, hv in started:
        hv.release_all()
        monitor.stop(2.0)


def stop(monitor, hv):
    hv.release_all()
    monitor.stop(2.0)


# -- discovery ---------------------------------------------------------------

def test_resync_discovers_only_domains_with_the_agent_channel(make):
    hv = FakeHypervisor()
    hv.add(C, running=False, stepped=False)
    hv.add(B, channel=False, stepped=False)
    hv.add(A)
    hv.add(D, domain_id=7, stepped=False)
    monitor, _ = make(hv, policy())
    monitor.resync()
    snap = snapshot(monitor)
    assert set(snap) == {A, C, D}
    assert snap[A]['state'] == 'grace'
    assert snap[C]['state'] == 'paused'
    rounds(monitor, hv, A, 3)
    until(lambda: hv.calls[D] >= 1, what='a probe of D')
    time.sleep(0.05)
    assert hv.calls[B] == 0            # no channel: not monitored
    assert hv.calls[C] == 0            # paused: not probed
    assert set(hv.timeouts) == {2}


def test_resync_forgets_vanished_domains_and_removed_channels(make):
    hv = FakeHypervisor()
    hv.add(A)
    hv.add(B)
    hv.add(C)
    monitor, _ = make(hv, policy())
    monitor.resync()
    assert set(snapshot(monitor)) == {A, B, C}
    del hv.domains[B]
    hv.domains[C] = DomainInfo(C, 'vm-c', True, False, 1)
    monitor.resync()
    assert set(snapshot(monitor)) == {A}


def test_resync_while_libvirt_is_down_keeps_what_is_known(make):
    hv = FakeHypervisor()
    hv.add(A)
    monitor, _ = make(hv, policy())
    monitor.resync()
    barrier(monitor)
    hv.unavailable = True
    monitor.resync()
    assert set(snapshot(monitor)) == {A}


def test_an_event_discovers_an_unknown_domain(make):
    hv = FakeHypervisor()
    hv.add(A)
    hv.add(B, channel=False)
    hv.add(C)
    monitor, _ = make(hv, policy())
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.STARTED, 'booted'))
    monitor.post_event(DomainEvent(B, 'vm-b', EventKind.STARTED, 'booted'))
    monitor.post_event(DomainEvent(C, 'vm-c', EventKind.AGENT_DISCONNECTED))
    assert set(snapshot(monitor)) == {A}
    assert C not in hv.info_calls


# -- failure detection -------------------------------------------------------

@pytest.mark.parametrize('threshold', [1, 3])
def test_failing_guest_is_reported_once_after_threshold_misses(
        make, threshold):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=MISS)
    monitor, outbox = make(hv, policy(threshold))
    monitor.resync()
    probe_round(monitor, hv, A)                 # answered once
    for _ in range(threshold):
        probe_round(monitor, hv, A)
        assert outbox.queued == []              # earlier results: no report
    probe_round(monitor, hv, A)                 # threshold-th miss handled
    assert len(outbox.queued) == 1
    sent = outbox.queued[0]
    assert sent.instance_uuid == A
    assert sent.hostname == HOST
    assert sent.id
    rounds(monitor, hv, A, 5)
    settle(monitor, hv, A)
    assert len(outbox.queued) == 1
    snap = snapshot(monitor)[A]
    assert snap['reported'] is True
    assert snap['state'] == 'failed'


@pytest.mark.parametrize('threshold', [1, 3])
def test_agent_never_answered_is_reported_after_threshold_ticks_if_asked(
        make, threshold):
    hv = FakeHypervisor()
    hv.add(A, default=MISS)
    monitor, outbox = make(hv, policy(threshold, never=True))
    monitor.resync()
    rounds(monitor, hv, A, threshold)
    assert outbox.queued == []
    probe_round(monitor, hv, A)
    assert [n.instance_uuid for n in outbox.queued] == [A]
    rounds(monitor, hv, A, 3)
    settle(monitor, hv, A)
    assert len(outbox.queued) == 1


def test_agent_never_answered_is_not_reported_by_default(make):
    hv = FakeHypervisor()
    hv.add(A, default=MISS)
    monitor, outbox = make(hv, policy(1))
    monitor.resync()
    rounds(monitor, hv, A, 6)
    settle(monitor, hv, A)
    assert outbox.queued == []
    assert snapshot(monitor)[A]['state'] == 'no_agent'


def test_healthy_guest_is_never_reported(make, clock):
    hv = FakeHypervisor()
    hv.add(A, default=OK)
    hv.add(B, script=[OK], default=MISS)
    monitor, outbox = make(hv, policy(2))
    monitor.resync()
    for _ in range(8):
        clock.now += 10
        probe_round(monitor, hv, A)
        probe_round(monitor, hv, B)
    settle(monitor, hv, A)
    settle(monitor, hv, B)
    assert [n.instance_uuid for n in outbox.queued] == [B]
    snap = snapshot(monitor)
    assert snap[A]['state'] == 'healthy'
    assert snap[A]['misses'] == 0
    assert snap[A]['reported'] is False
    assert snap[A]['seconds_since_success'] == 0


def test_recovery_rearms_and_a_second_hang_is_reported_again(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK, MISS, MISS, OK, OK, MISS, MISS], default=MISS)
    monitor, outbox = make(hv, policy(2))
    monitor.resync()
    rounds(monitor, hv, A, 4)                   # OK MISS MISS handled
    assert len(outbox.queued) == 1
    rounds(monitor, hv, A, 4)                   # OK OK MISS MISS handled
    assert len(outbox.queued) == 2
    assert outbox.queued[0].id != outbox.queued[1].id


def test_probe_timeout_is_passed_to_the_hypervisor(make):
    hv = FakeHypervisor()
    hv.add(A)
    monitor, _ = make(hv, policy(), probe_timeout=7)
    monitor.resync()
    rounds(monitor, hv, A, 2)
    assert set(hv.timeouts) == {7}


def test_a_slow_probe_is_repeated_without_waiting_for_a_tick(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=MISS, stepped=False)
    hv.durations[A] = 10.0               # as long as the probe interval
    monitor, outbox = make(hv, policy(3), probe_interval=10.0)
    monitor.resync()
    barrier(monitor)
    monitor.tick()                       # a single tick
    until(lambda: len(outbox.queued) == 1, what='report without ticks')
    hv.stepped[A] = True                 # stop the probe loop
    assert [n.instance_uuid for n in outbox.queued] == [A]
    assert hv.calls[A] >= 4


def test_a_failed_submit_is_retried_on_the_next_miss(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=MISS)
    monitor, outbox = make(hv, policy(2), outbox=FakeOutbox(OSError('disk')))
    monitor.resync()
    rounds(monitor, hv, A, 4)            # OK MISS MISS(submit fails) handled
    assert outbox.attempts == 1
    assert outbox.queued == []
    probe_round(monitor, hv, A)          # the next miss: submitted again
    assert outbox.attempts == 2
    assert [n.instance_uuid for n in outbox.queued] == [A]
    rounds(monitor, hv, A, 3)
    settle(monitor, hv, A)
    assert outbox.attempts == 2


# -- state changes -----------------------------------------------------------

def test_not_running_pauses_and_resumed_restores_grace(make, clock):
    hv = FakeHypervisor()
    hv.add(A, script=[OK, MISS, Outcome.NOT_RUNNING], default=MISS)
    monitor, outbox = make(hv, policy(2, grace=100))
    monitor.resync()
    rounds(monitor, hv, A, 3)
    assert snapshot(monitor)[A]['misses'] == 1
    hv.answer(A)                         # NOT_RUNNING
    until(lambda: snapshot(monitor)[A]['state'] == 'paused', what='paused')
    assert snapshot(monitor)[A]['misses'] == 0
    calls = hv.calls[A]
    for _ in range(3):
        monitor.tick()
    barrier(monitor)
    time.sleep(0.05)
    assert hv.calls[A] == calls          # paused: not probed
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.RESUMED, 'unpaused'))
    assert snapshot(monitor)[A]['state'] == 'grace'
    rounds(monitor, hv, A, 6)            # five misses in grace handled
    assert snapshot(monitor)[A]['misses'] == 0
    assert snapshot(monitor)[A]['state'] == 'grace'
    assert outbox.queued == []
    clock.now += 100                     # grace over: misses count again
    probe_round(monitor, hv, A)          # the pending miss: one
    assert outbox.queued == []
    probe_round(monitor, hv, A)
    assert [n.instance_uuid for n in outbox.queued] == [A]


@pytest.mark.parametrize('kind', [EventKind.PAUSED, EventKind.MIGRATING,
                                  EventKind.SHUTTING_DOWN])
def test_pausing_events_stop_probing(make, kind):
    hv = FakeHypervisor()
    hv.add(A)
    monitor, _ = make(hv, policy())
    monitor.resync()
    monitor.post_event(DomainEvent(A, 'vm-a', kind))
    assert snapshot(monitor)[A]['state'] == 'paused'
    monitor.tick()
    barrier(monitor)
    time.sleep(0.05)
    assert hv.calls[A] == 0


@pytest.mark.parametrize('kind,phase', [
    (EventKind.AGENT_CONNECTED, 'grace'),
    (EventKind.AGENT_DISCONNECTED, 'healthy'),
])
def test_agent_events_probe_at_once(make, clock, kind, phase):
    hv = FakeHypervisor()
    hv.add(A, default=OK)
    monitor, _ = make(hv, policy(2, grace=100))
    monitor.resync()
    rounds(monitor, hv, A, 2)
    assert snapshot(monitor)[A]['state'] == 'healthy'
    calls = hv.calls[A]
    clock.now += 10
    hv.answer(A)
    until(lambda: snapshot(monitor)[A]['seconds_since_success'] == 0,
          what='answer handled')
    monitor.post_event(DomainEvent(A, 'vm-a', kind, 'channel'))
    assert snapshot(monitor)[A]['state'] == phase
    until(lambda: hv.calls[A] == calls + 1, what='a probe without a tick')


def test_a_reported_instance_stays_reported_across_pause_and_resume(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=MISS)
    monitor, outbox = make(hv, policy(1))
    monitor.resync()
    rounds(monitor, hv, A, 3)
    assert len(outbox.queued) == 1
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.PAUSED))
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.RESUMED))
    snap = snapshot(monitor)[A]
    assert snap['state'] == 'failed'
    assert snap['reported'] is True
    rounds(monitor, hv, A, 4)
    assert len(outbox.queued) == 1


def test_stopped_event_forgets_the_instance(make):
    hv = FakeHypervisor()
    hv.add(A)
    hv.add(B)
    monitor, _ = make(hv, policy())
    monitor.resync()
    probe_round(monitor, hv, A)
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.STOPPED, 'destroyed'))
    assert set(snapshot(monitor)) == {B}
    calls = hv.calls[A]
    rounds(monitor, hv, B, 3)
    assert hv.calls[A] == calls


@pytest.mark.parametrize('events', [
    (EventKind.STOPPED, EventKind.STARTED),
    (EventKind.STARTED,),
    (EventKind.PAUSED, EventKind.RESUMED),
])
def test_a_stale_result_is_ignored(make, events):
    hv = FakeHypervisor()
    hv.add(A, default=OK)
    # One probe thread per lane: probes of A run one after the other.
    monitor, _ = make(hv, policy(2, grace=1000), max_concurrent_probes=1)
    monitor.resync()
    probe_round(monitor, hv, A)          # an answer is on its way...
    for kind in events:                  # ... but the domain changed
        if kind is EventKind.STARTED:
            hv.set_domain_id(A, 2)
        monitor.post_event(DomainEvent(A, 'vm-a', kind))
    assert snapshot(monitor)[A]['state'] == 'grace'
    monitor.tick()                       # queued behind the stale probe
    barrier(monitor)
    hv.answer(A)                         # the stale answer arrives first
    until(lambda: hv.calls[A] == 2, what='second probe')
    snap = snapshot(monitor)[A]
    assert snap['state'] == 'grace', 'a stale answer ended the grace'
    assert snap['seconds_since_success'] is None


def test_a_started_event_takes_the_new_domain_id(make, clock, tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    hv = FakeHypervisor()
    hv.add(A, default=OK, domain_id=1)
    monitor, _ = make(hv, policy(2, grace=100), store=store)
    monitor.resync()
    rounds(monitor, hv, A, 2)
    assert snapshot(monitor)[A]['state'] == 'healthy'
    hv.set_domain_id(A, 2)               # a new QEMU process
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.STARTED, 'booted',
                                   domain_id=2))
    assert snapshot(monitor)[A]['state'] == 'grace'
    rounds(monitor, hv, A, 2)            # the new agent answered
    assert snapshot(monitor)[A]['state'] == 'healthy'
    monitor.tick()
    barrier(monitor)
    assert store.load()[A] == Remembered(2, True, False)
    # the periodic resync finds nothing new: no second start, no grace
    monitor.resync()
    assert snapshot(monitor)[A]['state'] == 'healthy'


def test_connection_outcomes_never_count(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK] + [Outcome.CONNECTION] * 6 + [MISS],
           default=Outcome.CONNECTION)
    monitor, outbox = make(hv, policy(2))
    monitor.resync()
    rounds(monitor, hv, A, 8)
    settle(monitor, hv, A)
    snap = snapshot(monitor)[A]
    assert snap['misses'] == 1
    assert outbox.queued == []


@pytest.mark.parametrize('outcome', [Outcome.BUSY, Outcome.ERROR])
def test_busy_and_errors_never_count(make, outcome):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=outcome)
    monitor, outbox = make(hv, policy(1))
    monitor.resync()
    rounds(monitor, hv, A, 5)
    settle(monitor, hv, A)
    assert snapshot(monitor)[A]['misses'] == 0
    assert outbox.queued == []


@pytest.mark.parametrize('outcome', [Outcome.GONE, Outcome.NOT_CONFIGURED])
def test_gone_or_not_configured_forgets_the_instance(make, outcome):
    hv = FakeHypervisor()
    hv.add(A, script=[outcome])
    monitor, outbox = make(hv, policy(1))
    monitor.resync()
    probe_round(monitor, hv, A)
    hv.answer(A)
    until(lambda: A not in snapshot(monitor), what='forgotten')
    assert outbox.queued == []


def test_connection_loss_resets_the_count(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK, MISS, MISS], default=MISS)
    monitor, outbox = make(hv, policy(3))
    monitor.resync()
    rounds(monitor, hv, A, 4)
    assert snapshot(monitor)[A]['misses'] == 2
    monitor.post_connection(False)       # the probe in flight is void
    probe_round(monitor, hv, A)
    settle(monitor, hv, A)
    assert snapshot(monitor)[A]['misses'] == 1
    assert outbox.queued == []


def test_connection_up_resyncs(make):
    hv = FakeHypervisor()
    hv.add(A)
    monitor, _ = make(hv, policy())
    monitor.post_connection(True)
    assert set(snapshot(monitor)) == {A}


def test_a_new_domain_id_on_resync_is_a_new_process(make):
    hv = FakeHypervisor()
    hv.add(A, script=[OK], default=MISS, domain_id=3)
    monitor, outbox = make(hv, policy(1))
    monitor.resync()
    rounds(monitor, hv, A, 3)
    assert len(outbox.queued) == 1
    hv.set_domain_id(A, 4)
    monitor.resync()
    snap = snapshot(monitor)[A]
    assert snap['reported'] is False
    assert snap['state'] == 'grace'


# -- state across restarts ---------------------------------------------------

def test_state_store_round_trip(make, tmp_path):
    store = StateStore(tmp_path / 'state' / 'instances.json')

    # 1. answered, then failed: reported, and remembered as such
    hv1 = FakeHypervisor()
    hv1.add(A, script=[OK], default=MISS, domain_id=5)
    m1, out1 = make(hv1, policy(2), store=store)
    m1.resync()
    rounds(m1, hv1, A, 4)
    assert len(out1.queued) == 1
    stop(m1, hv1)
    assert store.load() == {A: Remembered(5, True, True)}

    # 2. restarted, same QEMU process, still failing: not reported again
    hv2 = FakeHypervisor()
    hv2.add(A, default=MISS, domain_id=5)
    m2, out2 = make(hv2, policy(2), store=store)
    m2.resync()
    snap = snapshot(m2)[A]
    assert snap['reported'] is True
    assert snap['state'] == 'failed'
    rounds(m2, hv2, A, 6)
    settle(m2, hv2, A)
    assert out2.queued == []
    assert snapshot(m2)[A]['misses'] >= 5
    stop(m2, hv2)
    assert store.load() == {A: Remembered(5, True, True)}

    # 3. restarted, a new QEMU process (other domain id): the record is void
    hv3 = FakeHypervisor()
    hv3.add(A, script=[OK], default=MISS, domain_id=6)
    m3, out3 = make(hv3, policy(2), store=store)
    m3.resync()
    snap = snapshot(m3)[A]
    assert snap['reported'] is False
    assert snap['state'] == 'grace'
    rounds(m3, hv3, A, 3)                # OK MISS handled
    assert out3.queued == []
    probe_round(m3, hv3, A)              # second miss handled
    assert [n.instance_uuid for n in out3.queued] == [A]
    stop(m3, hv3)
    assert store.load() == {A: Remembered(6, True, True)}


def test_an_answer_before_a_restart_is_remembered(make, tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    hv1 = FakeHypervisor()
    hv1.add(A, default=OK, domain_id=9)
    m1, _ = make(hv1, policy(2), store=store)
    m1.resync()
    rounds(m1, hv1, A, 2)
    stop(m1, hv1)
    assert store.load() == {A: Remembered(9, True, False)}

    # the agent hangs while the service is down: reported without having
    # to answer first
    hv2 = FakeHypervisor()
    hv2.add(A, default=MISS, domain_id=9)
    m2, out2 = make(hv2, policy(2), store=store)
    m2.resync()
    rounds(m2, hv2, A, 3)
    assert [n.instance_uuid for n in out2.queued] == [A]


def test_forgotten_instances_leave_the_store(make, tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    hv = FakeHypervisor()
    hv.add(A, domain_id=1)
    hv.add(B, domain_id=2)
    monitor, _ = make(hv, policy(), store=store)
    monitor.resync()
    barrier(monitor)
    assert set(store.load()) == {A, B}
    monitor.post_event(DomainEvent(A, 'vm-a', EventKind.STOPPED))
    monitor.tick()
    barrier(monitor)
    assert set(store.load()) == {B}


def test_maintenance_by_name_silences_an_instance_across_restarts(make, tmp_path):
    store = StateStore(tmp_path / 'instances.json')
    hv = FakeHypervisor()
    hv.add(A, default=MISS, domain_id=3)
    monitor, outbox = make(hv, policy(2), store=store)
    monitor.resync()
    assert monitor.set_maintenance('vm-a', True).result(WAIT) == A
    assert monitor.set_maintenance('no-such-vm', True).result(WAIT) is None
    assert snapshot(monitor)[A]['state'] == 'maintenance'
    for _ in range(5):
        monitor.tick()
    barrier(monitor)
    hv.release_all()
    barrier(monitor)
    assert outbox.queued == []
    stop(monitor, hv)
    assert store.load_maintenance() == {A}

    # A new service process keeps the instance in maintenance ...
    hv2 = FakeHypervisor()
    hv2.add(A, script=[OK], default=MISS, domain_id=3)
    again, outbox2 = make(hv2, policy(2), store=store)
    again.resync()
    assert snapshot(again)[A]['state'] == 'maintenance'
    # ... until the operator takes it out: then failures count again.
    assert again.set_maintenance(A, False).result(WAIT) == A
    assert store.load_maintenance() == set()
    rounds(again, hv2, A, 4)     # handled: OK, MISS, MISS
    until(lambda: len(outbox2.queued) == 1, what='report after maintenance')


def test_without_memory_an_open_agent_port_counts_as_a_working_agent(make):
    hv = FakeHypervisor()
    hv.add(A, default=MISS)
    info = hv.domains[A]
    hv.domains[A] = DomainInfo(info.uuid, info.name, info.running, True,
                               info.domain_id, agent_connected=True)
    hv.add(B, default=MISS)          # port closed: never answered
    monitor, outbox = make(hv, policy(2))
    monitor.resync()
    rounds(monitor, hv, A, 3)        # handled: MISS, MISS
    rounds(monitor, hv, B, 3)
    until(lambda: [n.instance_uuid for n in outbox.queued] == [A],
          what='only the guest whose agent had its port open is reported')
    assert snapshot(monitor)[B]['state'] == 'no_agent'


def test_guests_that_did_not_answer_are_probed_on_the_suspect_prober(clock):
    main, side = FakeHypervisor(), FakeHypervisor()
    main.add(A, default=MISS, stepped=False)
    side.add(A, script=[OK], default=MISS, stepped=False)
    monitor = Monitor(main, policy(5), Settings(hostname=HOST), FakeOutbox(),
                      suspect_prober=side, clock=clock)
    monitor.start()
    try:
        monitor.resync()
        barrier(monitor)
        monitor.tick()              # in grace: the suspect prober
        until(lambda: side.calls[A] == 1, what='first probe on the side')
        barrier(monitor)
        # The side answered OK: healthy now, so the main connection.
        until(lambda: snapshot(monitor)[A]['state'] == 'healthy',
              what='healthy')
        monitor.tick()
        until(lambda: main.calls[A] == 1, what='probe on the main')
        until(lambda: snapshot(monitor)[A]['state'] == 'failing',
              what='a miss')
        monitor.tick()              # failing: back to the side
        until(lambda: side.calls[A] == 2, what='second probe on the side')
        assert main.calls[A] == 1
    finally:
        monitor.stop(2.0)
