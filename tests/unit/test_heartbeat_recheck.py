"""A late kernel heartbeat sampled again when it would go stale (core/recheck.py):
a dead kernel judged at its stamp + 2 x period + 1 (+ MARGIN), not at the
next tick; never an extra sample of a live guest in steady state."""

import pytest

from masakari_introspect.core import recheck
from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.actions import SampleLater
from masakari_introspect.core.heartbeat import late_after
from masakari_introspect.core.heartbeat import WINDOWS
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Reason
from tests.unit.fakes import A, B, domain
from tests.unit.heartbeat_bed import Bed

WALL0 = 1.7e9     # the bed's wall clock at monotonic 5000


def mono(bed, wall):
    """The bed's monotonic time at wall-clock time ``wall``."""
    return bed.clock() + (wall - bed.wall())


def hung(bed, uuid=A):
    return [r for r in bed.reports(uuid) if r.reason == Reason.KERNEL_HUNG.value]


def test_late_after_lies_between_a_punctual_stamp_and_stale():
    assert late_after(1) == 2.5
    assert late_after(2) == 4.0
    assert late_after(10) == 16.0


# -- a dead kernel judged when its heartbeat goes stale --------------------


@pytest.mark.parametrize('after', [0.5, 0.9])
def test_a_late_stamp_is_sampled_when_it_goes_stale(after):
    # The kernel dies (its last stamp: the whole second 6) ``after`` s into
    # an interval; the next tick finds that stamp 2.5 s old or more: late.
    bed = Bed()
    bed.wait(after)
    bed.kill_kernel()
    stamp = bed.stamps[A]
    bed.tick()
    assert bed.wall() - stamp >= late_after(1)
    stale = mono(bed, stamp + 3.0)
    assert [a.at for a in bed.asked()] == \
        [pytest.approx(stale + recheck.MARGIN)]
    assert hung(bed) == []
    bed.wait(stale + recheck.MARGIN - bed.clock() + 1e-6)
    # Judged at stamp + 3 s + MARGIN, on a sample of A alone.
    assert bed.asked(SampleGuests) == [SampleGuests((A,))]
    assert len(hung(bed)) == 1
    assert bed.clock() < bed.fleet._last_tick + bed.interval
    assert bed.reports(B) == []


def test_a_missed_probe_samples_the_heartbeat_when_it_would_go_stale():
    # The tick finds the stamp 2 s old: not late (a live guest's may be),
    # but the probe sent then times out: A is sampled at stamp + 3 s.
    bed = Bed()
    bed.kill_kernel()
    stamp = bed.stamps[A]
    bed.tick()
    assert bed.wall() - stamp < late_after(1)
    stale = mono(bed, stamp + 3.0)
    assert [a.at for a in bed.asked()] == \
        [pytest.approx(stale + recheck.MARGIN)]
    bed.wait(1.5)
    assert len(hung(bed)) == 1
    assert bed.clock() < bed.fleet._last_tick + bed.interval


def test_without_the_extra_sample_the_next_tick_would_judge_it():
    # The same death, the extra sample not taken: reported a tick later.
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.later.clear()
    bed.wait(1.5)
    assert hung(bed) == []
    bed.tick(0.5)
    assert len(hung(bed)) == 1


def test_two_kernels_dead_together_are_sampled_in_one_call_once():
    bed = Bed()
    bed.wait(0.5)
    bed.kill_kernel(A)
    bed.kill_kernel(B)
    bed.tick()
    assert len(bed.asked()) == 2          # one each, the same moment
    bed.wait(1.0)
    assert bed.asked(SampleGuests) == [SampleGuests((A, B))]
    assert len(hung(bed, A)) == 1 and len(hung(bed, B)) == 1


def test_at_most_one_pending_sample_per_guest():
    # A long period: the stamp is late on two ticks before it goes stale.
    bed = Bed(period=10, interval=2)
    bed.run(12)                    # learn the heartbeat at period 10
    bed.kill_kernel()
    stamp = bed.stamps[A]
    while bed.wall() - stamp < 21.0 and not bed.asked():
        bed.tick()
    bed.tick()
    assert len(bed.asked()) == 1


def test_a_guest_that_works_since_the_last_tick_is_judged_by_the_next():
    # The heartbeat went stale, but its disk counters moved since the
    # last tick: the extra sample makes no verdict and leaves them to the
    # next tick, which counts the work over its whole span: not dead (as
    # without the extra sample).
    bed = Bed(threshold=20)
    bed.wait(0.5)
    bed.kill_kernel()
    bed.tick()
    bed.work[A] += 5
    bed.wait(1.0)
    assert bed.asked(SampleGuests) and hung(bed) == []
    assert bed.fleet.watched[A].heartbeat.stale
    counters = bed.fleet.watched[A].counters
    assert counters['disk_requests'] == 0     # left to the next tick
    bed.tick(1.0)
    assert bed.fleet.watched[A].state.work.recent
    bed.run(3)
    assert hung(bed) == []


# -- never for a live guest in steady state ------------------------------------


@pytest.mark.parametrize('period,interval', [(1, 2.0), (2, 10.0), (2, 2.0),
                                             (10, 10.0)])
@pytest.mark.parametrize('first', [0.001, 0.5, 0.999])
def test_a_live_guest_never_asks_an_extra_sample(period, interval, first):
    # Live guests answer QEMU up to just under half a period late (the
    # stamp's worst whole-second phase), the stamps read a little after
    # the sample was asked: no extra sample, ever.
    bed = Bed(period=period, interval=interval)
    bed.read_delay = 0.3
    bed.beat(A, 0.5 * period - 0.01, first=int(bed.wall()) + first)
    bed.beat(B, 0.0, first=int(bed.wall()) + first)
    bed.wait(0.37)               # ticks at any fraction of a second
    bed.run(150)
    assert bed.asked() == [] and bed.asked(SampleGuests) == []
    assert bed.reports(A) == [] and bed.reports(B) == []
    assert bed.fleet.watched[A].heartbeat.live


def test_a_guest_half_a_period_late_is_sampled_and_found_alive():
    # The same rule's other side: beats half a period late or more do ask
    # (and the sample finds the stamp moved: nothing to report).
    bed = Bed()
    bed.beat(A, 0.9, first=int(bed.wall()) + 0.999)
    bed.wait(0.6)
    bed.run(40)
    assert bed.asked()
    assert bed.asked(SampleGuests)
    assert bed.reports(A) == [] and bed.fleet.watched[A].heartbeat.live


def test_a_live_guest_with_a_hung_agent_asks_once_per_silence():
    # Its agent misses every probe; its kernel beats: one extra sample
    # planned for the first miss since an answer, not one per interval
    # (the next tick finds the stamp moved: the sample is moot, not taken).
    bed = Bed(threshold=20)
    bed.silent.add(A)
    bed.run(6)
    assert len(bed.asked()) == 1
    bed.silent.discard(A)
    bed.run(2)
    bed.silent.add(A)
    bed.run(3)
    assert len(bed.asked()) == 2
    assert bed.asked(SampleGuests) == [] and hung(bed) == []


def test_a_hung_agent_at_a_long_interval_is_sampled_once_and_found_alive():
    bed = Bed(threshold=20, period=2, interval=10.0)
    bed.silent.add(A)
    bed.run(5)
    assert len(bed.asked()) == 1
    assert bed.asked(SampleGuests) == [SampleGuests((A,))]
    assert hung(bed) == [] and bed.fleet.watched[A].heartbeat.live


# -- not for guests whose heartbeat would make no verdict ----------------------


def _late_after_dying(bed):
    bed.wait(0.5)
    bed.kill_kernel()
    bed.tick()


def test_none_for_an_excluded_guest():
    bed = Bed()
    bed.maintenance(True)
    _late_after_dying(bed)
    assert bed.asked() == []


def test_none_for_a_windows_guest():
    bed = Bed()
    bed.fleet.watched[A].heartbeat.os_id = WINDOWS
    _late_after_dying(bed)
    assert bed.asked() == []


def test_none_without_a_heartbeat():
    bed = Bed()
    bed.period[A] = 0         # statistics off: no heartbeat
    bed.run(3)
    _late_after_dying(bed)
    assert bed.asked() == []


def test_none_while_the_balloon_fields_are_missing():
    # A job holds the domain: NOWAIT leaves them out, and so would the
    # extra sample's call.
    bed = Bed()
    bed.hidden.add(A)
    _late_after_dying(bed)
    assert bed.asked() == []


def test_none_for_a_starved_guest():
    bed = Bed(threshold=20)
    bed.starved.add(A)
    bed.run(2)
    _late_after_dying(bed)
    assert bed.asked() == []


def test_not_eligible_while_a_job_holds_the_domain():
    bed = Bed()
    watched = bed.fleet.watched[A]
    assert recheck.eligible(watched, bed.clock())
    watched.state.domain_job.seen(bed.clock())
    assert not recheck.eligible(watched, bed.clock())


def test_a_pending_sample_of_a_guest_excluded_meanwhile_is_dropped():
    bed = Bed()
    _late_after_dying(bed)
    assert bed.asked()
    bed.maintenance(True)
    bed.wait(1.0)
    assert bed.asked(SampleGuests) == []


def _asked_at_its_moment(bed):
    """Wait for guest A's pending sample's moment; the fleet asks it."""
    at = bed.later.pop()
    bed.wait(at - bed.clock())
    asks = bed.do(bed.fleet.recheck())
    assert asks == [SampleGuests((A,))]
    return asks


# -- resets, clock steps, a guest gone -----------------------------------------


def test_a_reboot_before_the_moment_drops_the_pending_sample():
    bed = Bed()
    _late_after_dying(bed)
    bed.event(A, EventKind.REBOOTED)
    bed.wait(1.0)
    assert bed.asked(SampleGuests) == [] and hung(bed) == []


def test_an_extra_sample_asked_before_a_reboot_says_nothing_after_it():
    # Asked at its moment; the reboot event is handled before its answer:
    # the old kernel's stamp it carries is not judged.
    bed = Bed()
    _late_after_dying(bed)
    asks = _asked_at_its_moment(bed)
    bed.wait(0.05)
    bed.event(A, EventKind.REBOOTED)
    bed.take(asks)
    assert hung(bed) == []
    beat = bed.fleet.watched[A].heartbeat
    assert not beat.stale and not beat.live


@pytest.mark.parametrize('step', [30.0, -30.0, 1.5])
def test_a_wall_clock_step_before_the_extra_sample_relearns(step):
    bed = Bed()
    _late_after_dying(bed)
    bed.wall.advance(step)
    bed.wait(1.0)
    assert bed.asked(SampleGuests) == [SampleGuests((A,))]
    beat = bed.fleet.watched[A].heartbeat
    assert hung(bed) == [] and not beat.stale and not beat.live


def test_a_guest_stopped_while_its_sample_is_pending():
    bed = Bed()
    _late_after_dying(bed)
    bed.event(A, EventKind.STOPPED, 'destroyed')
    bed.wait(1.0)
    assert bed.asked(SampleGuests) == [] and hung(bed) == []


def test_a_guest_replaced_while_its_sample_is_asked():
    # Stopped and started again (another QEMU process, another record)
    # while the call is out: its answer is not the new process's.
    bed = Bed()
    _late_after_dying(bed)
    asks = _asked_at_its_moment(bed)
    bed.event(A, EventKind.STOPPED, 'destroyed')
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=7),
                             domain(B, 'vm-b', domain_id=2)]))
    bed.take(asks)
    assert hung(bed) == []
    assert bed.fleet.watched[A].heartbeat.learning(bed.clock())


def test_an_extra_sample_that_fails_waits_for_the_next_tick():
    bed = Bed()
    _late_after_dying(bed)
    at = bed.later.pop()
    bed.wait(at - bed.clock())
    asks = bed.do(bed.fleet.recheck())
    bed.do(bed.fleet.guests_sampled(asks[0].uuids, None))
    assert hung(bed) == []
    bed.tick(1.5)
    assert len(hung(bed)) == 1


def test_sample_later_moments_are_monotonic():
    bed = Bed()
    _late_after_dying(bed)
    later = bed.asked(SampleLater)[0]
    assert bed.clock() < later.at < bed.clock() + bed.interval
