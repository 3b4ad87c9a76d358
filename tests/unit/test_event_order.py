"""A reset's event and the statistics sample after it: the sample is
judged only after the event (libvirt delivers events on a thread of its
own, and a busy libvirtd or event loop can hand one on after the answer of
a statistics call that QEMU answered after the reset)."""

from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.model import EventKind
from masakari_introspect.virt.statistics import StatisticsReader
from tests.unit.fakes import A
from tests.unit.heartbeat_bed import PERIOD
from tests.unit.heartbeat_bed import Bed


class Dom:
    def UUIDString(self):
        return A


class EventConn:
    """The bulk call's answer comes with a REBOOTED event that libvirt's
    event loop has not handed on yet."""

    def __init__(self, pending, calls):
        self.pending = pending
        self.calls = calls

    def getAllDomainStats(self, groups, flags):
        self.calls.append('statistics')
        self.pending.append(EventKind.REBOOTED)
        return [(Dom(), {'balloon.last-update': 1_700_000_000})]

    def getLibVersion(self):
        self.calls.append('round trip')
        return 9_000_000


def lose(conn, why):
    raise AssertionError(why)


def event_loop():
    """Events received, not handed on yet; those handed on; the calls
    made; and a settle that hands on what was received."""
    pending, handed, calls = [], [], []

    def settle(timeout):
        calls.append('settle')
        handed.extend(pending)
        pending.clear()
        return True
    return pending, handed, calls, settle


def test_the_bulk_sample_is_handed_on_after_the_events_before_it():
    pending, handed, calls, settle = event_loop()
    reader = StatisticsReader(settle=settle)
    [found] = reader.read(EventConn(pending, calls), lose)
    assert found.uuid == A
    assert handed == [EventKind.REBOOTED] and pending == []
    assert calls == ['statistics', 'round trip', 'settle']


def test_an_event_loop_that_does_not_run_is_said_once(caplog):
    reader = StatisticsReader(settle=lambda timeout: False)
    for _ in range(3):
        assert reader.read(EventConn([], []), lose) is not None
    assert len([r for r in caplog.records
                if 'event loop did not run' in r.getMessage()]) == 1


def _reset_then_stale_sample(event_first):
    """Guest A is reset (virsh reset) right after its kernel's last beat;
    the new kernel boots without a stamp or an agent. A sample asked after
    the reset, once the old stamp is stale, is judged after the reset's
    event (``event_first``) or before it."""
    bed = Bed(boot_grace=30)
    bed.stamps[A] = int(bed.wall())          # the old kernel's last beat
    bed.closed.add(A)
    bed.clock.advance(0.5)
    bed.wall.advance(0.5)
    reset_at = bed.clock()
    bed.clock.advance(stale_after(PERIOD) + 0.5)
    bed.wall.advance(stale_after(PERIOD) + 0.5)
    bed.answer(bed.do(bed.fleet.tick()))      # port closed: no answer
    sample = bed.sample()
    assert bed.clock() > reset_at
    if event_first:
        bed.event(A, EventKind.REBOOTED)
        bed.do(bed.fleet.sampled(sample))
    else:
        bed.do(bed.fleet.sampled(sample))
        bed.event(A, EventKind.REBOOTED)
    bed.run(5)                                # still booting
    return bed


def test_a_reset_handed_on_before_the_sample_after_it_is_no_dead_kernel():
    assert _reset_then_stale_sample(event_first=True).reports() == []


def test_the_same_sample_judged_before_the_event_would_be_kernel_hung():
    # What the ordering above prevents: the old kernel's last beat, stale
    # while the new kernel boots, taken for a dead kernel.
    bed = _reset_then_stale_sample(event_first=False)
    assert bed.reasons() == ['kernel_hung']


class GuestsConn(EventConn):
    """The one-guest sample of a late heartbeat (read_guests): its answer
    too comes with an event not handed on yet."""

    def lookupByUUIDString(self, uuid):
        return Dom()

    def domainListGetStats(self, domains, groups, flags):
        return self.getAllDomainStats(groups, flags)


def test_a_late_heartbeats_sample_is_handed_on_after_the_events_before_it():
    pending, handed, calls, settle = event_loop()
    reader = StatisticsReader(settle=settle)
    [found] = reader.read_guests(GuestsConn(pending, calls), lose, (A,))
    assert found.uuid == A
    assert handed == [EventKind.REBOOTED] and pending == []
    assert calls == ['statistics', 'round trip', 'settle']
