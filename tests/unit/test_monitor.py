"""The owner thread: what only threads can show. Decisions are tested
synchronously in test_fleet.py."""

import threading
import time

from masakari_introspect.core.actions import Sample
from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.actions import SampleLater
from masakari_introspect.ops.snapshot import encode_instance
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.fakes import InstantHypervisor
from tests.unit.fakes import RecordingOutbox
from tests.unit.fakes import make_monitor
from tests.unit.fakes import ticked_until
from tests.unit.fakes import wait_until
from masakari_introspect.runtime.monitor import Monitor


class RecordingStore:
    def __init__(self):
        self.saves = []

    def save(self, records, maintenance=frozenset(), absent=None):
        self.saves.append(threading.current_thread().name)


def test_a_failing_guest_is_reported_through_the_outbox_with_statistics(
        reported):
    hypervisor, monitor = reported.hypervisor, reported.monitor
    [notification] = reported.outbox.sent
    assert notification.instance_uuid == B
    assert notification.reason == 'unresponsive'
    assert hypervisor.stats_calls >= 1
    # B missed once on the healthy lane; after that, the suspect one.
    assert set(reported.suspects.probed) <= {B, hypervisor.domains[0].uuid}
    assert B in reported.suspects.probed
    snapshot = {i.uuid: encode_instance(i) for i in
                monitor.query(monitor.snapshot).result(2)}
    assert snapshot[B]['state'] == 'failed'
    assert snapshot[B]['reason'] == 'unresponsive'


def saving_monitor():
    """A started monitor with a RecordingStore, after its first save (the
    resync's); the store's record of it cleared."""
    store = RecordingStore()
    monitor = make_monitor(InstantHypervisor(), RecordingOutbox(),
                           store=store)
    monitor.start()
    monitor.resync()
    wait_until(lambda: store.saves)
    store.saves.clear()
    return monitor, store


def test_the_state_is_saved_by_the_owner_thread_on_stop():
    monitor, store = saving_monitor()
    monitor.stop(2)
    assert store.saves == ['monitor']


def test_a_stuck_owner_thread_is_not_raced_by_stop():
    monitor, store = saving_monitor()
    release = threading.Event()
    monitor.query(release.wait)          # the owner thread is stuck
    monitor.stop(0.3)
    # stop() gave up waiting; the state was not written from this thread
    # while the owner could still be working on it.
    assert store.saves == []
    release.set()
    wait_until(lambda: store.saves == ['monitor'])


def test_query_runs_on_the_owner_thread():
    monitor = make_monitor(InstantHypervisor(), RecordingOutbox())
    monitor.start()
    try:
        name = monitor.query(lambda: threading.current_thread().name)
        assert name.result(2) == 'monitor'
    finally:
        monitor.stop(2)


class RecordingForensics:
    def __init__(self, root):
        self.root = root
        self.recorded = []

    def reserve(self, uuid, when):
        folder = self.root / uuid / when.strftime('%Y%m%dT%H%M%SZ')
        folder.mkdir(parents=True)
        return folder

    def record(self, uuid, name, reason, stats, probes, when, folder=None,
               died=None):
        self.recorded.append((uuid, reason, folder, len(probes)))
        return folder


def test_forensics_are_named_in_the_report_and_recorded(tmp_path, caplog):
    outbox, forensics = RecordingOutbox(), RecordingForensics(tmp_path)
    monitor = make_monitor(InstantHypervisor(), outbox, forensics=forensics)
    monitor.start()
    try:
        monitor.resync()
        ticked_until(monitor, lambda: outbox.sent)
        wait_until(lambda: forensics.recorded)
    finally:
        monitor.stop(2)
    [notification] = outbox.sent
    [(uuid, reason, folder, probes)] = forensics.recorded
    assert (uuid, reason) == (B, 'unresponsive')
    assert notification.forensics == str(folder)
    assert folder.parent == tmp_path / B
    assert probes >= 2
    assert 'forensics in %s' % folder in caplog.text


class FailingOutbox(RecordingOutbox):
    """The spool cannot be written the first time."""

    def __init__(self):
        super().__init__()
        self.failures = 1

    def submit(self, notification):
        if self.failures:
            self.failures -= 1
            raise OSError(28, 'No space left on device')
        return super().submit(notification)


def test_a_report_that_cannot_be_spooled_is_decided_again():
    outbox = FailingOutbox()
    monitor = make_monitor(InstantHypervisor(), outbox)
    monitor.start()
    try:
        monitor.resync()
        ticked_until(monitor, lambda: outbox.sent)
        assert outbox.failures == 0
        assert [n.instance_uuid for n in outbox.sent] == [B]
    finally:
        monitor.stop(2)


def test_a_report_withdrawn_for_maintenance_is_not_taken_as_made(reported):
    monitor = reported.monitor
    assert monitor.set_maintenance(B, True).result(2) == B
    assert [u for u, _why in reported.outbox.withdrawn] == [B]
    records = monitor.query(monitor.fleet.records).result(2)
    assert not records[B].reported and records[B].reports == ()


class StuckStatistics(InstantHypervisor):
    """The bulk statistics call does not come back until released (a
    starved QEMU); the vCPU call answers at once."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def activity(self):
        self.stats_calls += 1
        self.release.wait(5)
        return super().activity()


def test_the_vcpu_call_is_not_held_up_by_a_stuck_bulk_call():
    hypervisor = StuckStatistics()
    monitor = make_monitor(hypervisor, RecordingOutbox())
    monitor.start()
    try:
        monitor.resync()
        monitor.tick()
        wait_until(lambda: hypervisor.stats_calls == 1)
        # ticks go on while the bulk call is stuck: each gets its vCPU
        # figures, and no second bulk call is made meanwhile
        # (a tick too soon after the last one closes nothing: tick until)
        first = hypervisor.vcpu_calls
        for calls in (first + 1, first + 2, first + 3):
            wait_until(lambda c=calls: monitor.tick() or
                       hypervisor.vcpu_calls >= c)
        assert hypervisor.stats_calls == 1
    finally:
        hypervisor.release.set()
        monitor.stop(2)


class RecheckingFleet:
    """Stands in for the fleet's late-heartbeat side: its recheck asks a
    sample of A alone; records what comes back, and on which thread."""

    def __init__(self, fleet, order):
        self._fleet = fleet
        self.order = order
        self.rechecked = []
        self.vcpus = []     # the vCPU figures read with each guests call

    def __getattr__(self, name):
        return getattr(self._fleet, name)

    def recheck(self):
        self.rechecked.append((time.monotonic(),
                               threading.current_thread().name))
        return [SampleGuests((A,))]

    def sampled(self, activities):
        self.order.append('bulk')
        return []

    def guests_sampled(self, uuids, activities, vcpus=None):
        self.order.append(('guests', uuids,
                           [a.uuid for a in activities or ()]))
        self.vcpus.append(vcpus)
        return []


def _rechecking_monitor(hypervisor):
    order = []
    plain = make_monitor(hypervisor, RecordingOutbox())
    fleet = RecheckingFleet(plain.fleet, order)
    return Monitor(hypervisor, fleet, RecordingOutbox(), probe_timeout=1,
                   prober=hypervisor), fleet, order


def test_a_late_heartbeat_is_sampled_alone_at_its_moment():
    hypervisor = InstantHypervisor()
    monitor, fleet, order = _rechecking_monitor(hypervisor)
    monitor.start()
    try:
        at = time.monotonic() + 0.2
        monitor.query(monitor._carry_out, [SampleLater(at)]).result(2)
        wait_until(lambda: order)
        assert fleet.rechecked[0][0] >= at
        assert fleet.rechecked[0][1] == 'monitor'    # the owner thread
        assert hypervisor.guest_calls == [(A,)]
        assert order == [('guests', (A,), [A])]
        assert hypervisor.stats_calls == 0
        # With the vCPU figures (a starved guest gets no verdict from it).
        assert fleet.vcpus == [hypervisor.vcpus()]
    finally:
        monitor.stop(2)


def test_a_guest_sample_waits_behind_a_bulk_call_asked_before():
    hypervisor = StuckStatistics()
    monitor, _fleet, order = _rechecking_monitor(hypervisor)
    monitor.start()
    try:
        monitor.query(monitor._carry_out,
                      [Sample(), SampleGuests((A,))]).result(2)
        wait_until(lambda: hypervisor.stats_calls == 1)
        assert hypervisor.guest_calls == []     # never beside it
        hypervisor.release.set()
        wait_until(lambda: len(order) == 2)
        assert order == ['bulk', ('guests', (A,), [A])]
    finally:
        hypervisor.release.set()
        monitor.stop(2)
