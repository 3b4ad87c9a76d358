"""Combinations where the late heartbeat's extra sample (core/recheck.py)
and the followed balloon period (virt/balloon.py) could go wrong: events,
exclusions, clock steps, lost agents and many guests around them."""

import pytest

from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from tests.unit.fakes import A, B, domain, make_fleet
from tests.unit.heartbeat_bed import Bed
from tests.unit.test_heartbeat_period import FollowBed


def hung(bed, uuid=A):
    return [r for r in bed.reports(uuid)
            if r.reason == Reason.KERNEL_HUNG.value]


def advance(bed, seconds):
    """``seconds`` pass with the bed's ticks every interval (from the last
    one) and the extra samples at their moments."""
    end = bed.clock() + seconds
    while True:
        due = bed.fleet._last_tick + bed.interval
        if due > end:
            bed.wait(end - bed.clock())
            return
        bed.tick(due - bed.clock())


def late_dead(bed, uuid=A):
    """Kill ``uuid``'s kernel half-way into an interval, then tick: its
    stamp is late, and its extra sample planned (not taken yet)."""
    bed.wait(0.5)
    bed.kill_kernel(uuid)
    bed.tick()
    assert bed.fleet._rechecks.pending(uuid) is not None


# -- the extra sample and the events around it --------------------------------


@pytest.mark.parametrize('kind', [EventKind.REBOOTED, EventKind.CRASHED,
                                  EventKind.SHUTTING_DOWN,
                                  EventKind.MIGRATING])
def test_an_event_between_ask_and_answer_voids_the_sample(kind):
    bed = Bed()
    late_dead(bed)
    at = bed.fleet._rechecks.pending(A)
    step = at - bed.clock() + 0.01
    bed.clock.advance(step)
    bed.wall.advance(step)
    asks = bed.do(bed.fleet.recheck())
    assert asks == [SampleGuests((A,))]
    bed.event(A, kind)
    bed.take(asks)
    assert hung(bed) == []


# -- a lost agent whose heartbeat is learned again as its kernel dies --------


def test_a_lost_agent_whose_kernel_dies_as_the_period_changes_is_reported():
    # The agent is lost (kernel alive), then the period goes 1 -> 10 and
    # the kernel dies at once: the heartbeat, learned again, never moves.
    bed = FollowBed()
    bed.lose_agent()
    bed.run(3)
    assert bed.state().phase is Phase.AGENT_LOST
    bed.balloon.change(10)
    bed.balloon.dead = True
    bed.silent.add(A)
    bed.run(60)
    assert len(bed.reports()) == 1


@pytest.mark.parametrize('step', [-30.0, 30.0])
def test_a_lost_agent_whose_kernel_dies_at_a_clock_step_is_reported(step):
    bed = Bed()
    bed.lose_agent()
    bed.run(3)
    assert bed.state().phase is Phase.AGENT_LOST
    bed.wall.advance(step)
    bed.kill_kernel()
    bed.run(60)
    assert len(bed.reports()) == 1


@pytest.mark.parametrize('step', [-30.0, -0.6, 0.6, 30.0])
def test_a_lost_agent_whose_kernel_lives_through_a_clock_step_is_spared(step):
    bed = Bed()
    bed.lose_agent()
    bed.run(3)
    bed.wall.advance(step)
    bed.run(60)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


@pytest.mark.parametrize('period', [10, 2, 0])
def test_a_lost_agent_whose_kernel_lives_through_a_period_change(period):
    bed = FollowBed()
    bed.lose_agent()
    bed.run(3)
    bed.balloon.change(period)
    bed.run(60)
    if period:
        assert bed.reports() == []
        assert bed.state().phase is Phase.AGENT_LOST
    else:
        assert bed.reasons() == ['disconnected']


# -- answers out of order, twice, or for another process ----------------------


def ask_due(bed):
    """Advance to guest A's extra sample and ask it (not answered yet)."""
    step = bed.fleet._rechecks.pending(A) - bed.clock() + 0.01
    bed.clock.advance(step)
    bed.wall.advance(step)
    bed.later.clear()
    asks = bed.do(bed.fleet.recheck())
    assert asks == [SampleGuests((A,))]
    return asks


def test_an_answer_handled_twice_reports_once():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.take(asks)
    bed.take(asks)
    assert len(hung(bed)) == 1
    bed.run(10)
    assert len(hung(bed)) == 1


def test_an_answer_for_a_new_domain_of_the_same_uuid_says_nothing():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    # A stops and starts again (a new QEMU process), before the answer.
    bed.event(A, EventKind.STOPPED, 'destroyed')
    bed.do(bed.fleet.looked_up(A, domain(A, 'vm-a', domain_id=7)))
    bed.take(asks)
    assert hung(bed) == []
    assert A in bed.fleet.watched


def test_an_answer_after_a_later_bulk_sample_is_dropped():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.stamps[A] = None            # it beats again (a stall of the guest)
    bed.silent.discard(A)
    bed.tick(0.5)                   # a bulk sample asked and taken after
    bed.stamps[A] = bed.stamps[B] = 1   # an answer that would be stale
    bed.take(asks)
    assert hung(bed) == []


def test_a_failed_extra_sample_leaves_it_to_the_next_tick():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.do(bed.fleet.guests_sampled(asks[0].uuids, None))
    assert hung(bed) == []
    bed.tick()
    assert len(hung(bed)) == 1


def test_a_guest_gone_before_its_extra_sample_is_not_asked():
    bed = Bed()
    late_dead(bed)
    bed.event(A, EventKind.STOPPED, 'destroyed')
    step = 2.0
    bed.clock.advance(step)
    bed.wall.advance(step)
    assert bed.fleet.recheck() == []


# -- exclusions around the extra sample ---------------------------------------


def test_maintenance_drops_it_and_its_end_judges_again():
    bed = Bed()
    late_dead(bed)
    bed.maintenance(True)
    bed.wait(2.0)
    assert bed.asked(SampleGuests) == []
    bed.run(5)
    assert bed.reports() == []
    bed.maintenance(False)
    bed.run(10)
    assert len(bed.reports()) == 1


def test_maintenance_between_ask_and_answer_reports_nothing():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.maintenance(True)
    bed.take(asks)
    assert bed.reports() == []


@pytest.mark.parametrize('kind', [EventKind.PAUSED])
def test_a_pause_between_ask_and_answer_reports_nothing(kind):
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.event(A, kind)
    bed.take(asks)
    assert bed.reports() == []


def test_a_paused_then_resumed_live_guest_is_not_reported():
    bed = Bed()
    late_dead(bed)
    bed.event(A, EventKind.PAUSED)
    bed.wait(1.0)
    bed.stamps[A] = None       # resumed: its kernel beats again
    bed.silent.discard(A)
    bed.event(A, EventKind.RESUMED)
    bed.run(10)
    assert bed.reports() == []


def test_a_job_hiding_the_stamp_at_the_extra_sample_reports_nothing_yet():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.hidden.add(A)
    bed.take(asks)
    assert bed.reports() == []
    bed.hidden.discard(A)
    bed.run(3)
    assert len(hung(bed)) == 1


def test_kernel_heartbeat_off_asks_no_extra_sample():
    bed = Bed(kernel_heartbeat=False)
    bed.wait(0.5)
    bed.kill_kernel()
    bed.run(10)
    assert bed.asked() == [] and bed.asked(SampleGuests) == []
    assert hung(bed) == []


# -- a live kernel at period 1 is never reported -------------------------------


@pytest.mark.parametrize('lag', [0.0, 0.3, 0.6, 0.9])
@pytest.mark.parametrize('first', [0.001, 0.5, 0.999])
@pytest.mark.parametrize('read_delay', [0.0, 1.0, 2.0, 3.0])
@pytest.mark.parametrize('interval', [2.0, 1.3])
def test_a_live_kernel_at_period_1_is_never_kernel_hung(lag, first,
                                                        read_delay,
                                                        interval):
    bed = Bed(interval=interval)
    bed.silent.add(A)               # its agent hung: only the heartbeat
    bed.beat(A, lag, first=int(bed.wall()) + first)
    bed.read_delay = read_delay
    for i in range(60):
        # Ticks land anywhere within a second.
        bed.tick(interval + (0.37 * i) % 0.5)
    assert hung(bed) == []


@pytest.mark.parametrize('after', [0.0, 0.2, 0.5, 0.8, 0.999])
@pytest.mark.parametrize('interval', [2.0, 1.0, 5.0])
def test_a_dead_kernel_at_period_1_is_reported_once_in_bound(after,
                                                            interval):
    bed = Bed(interval=interval)
    bed.wait(after)
    bed.kill_kernel()
    died = bed.wall()
    next_tick = bed.clock() + interval - after
    while not hung(bed) and bed.wall() - died < 30:
        bed.wait(0.05)
        if bed.clock() >= next_tick - 1e-9:
            bed.tick(0)
            next_tick += interval
    # Whole-second stamps: the kernel's last beat is up to 1 s before.
    assert bed.wall() - int(died) <= 2 * 1 + 1 + interval + 1
    assert len(hung(bed)) == 1
    bed.run(10)
    assert len(hung(bed)) == 1 and bed.reports(B) == []


# -- many guests ---------------------------------------------------------------


class ManyBed(Bed):
    """``count`` guests beyond A and B, all beating and answering."""

    count = 0

    def __init__(self, count, **kwargs):
        self.count = count
        self.others = ['00000000-0000-0000-0001-%012d' % i
                       for i in range(count)]
        super().__init__(**kwargs)

    def do(self, actions):
        if self.others and not hasattr(self, '_listed'):
            self._listed = True
            for uuid in self.others:
                self.stamps[uuid] = None
                self.period[uuid] = self.period[A]
                self.work[uuid] = 0
                self.vcpu[uuid] = (0, 0)
            actions = list(actions) + self.fleet.listed(
                [domain(A, 'vm-a', domain_id=1),
                 domain(B, 'vm-b', domain_id=2)] +
                [domain(u, 'vm-%d' % i, domain_id=10 + i)
                 for i, u in enumerate(self.others)])
        return super().do(actions)

    def sample(self):
        return [Activity(u, self.work[u], 0, heartbeat=self.stamp(u),
                         heartbeat_period=self.period[u])
                for u in [A, B] + self.others]

    def vcpus(self):
        return {u: (self.vcpu[u],) for u in [A, B] + self.others}


def test_200_dead_kernels_among_healthy_guests():
    bed = ManyBed(400)
    bed.run(3)
    dead = bed.others[:200]
    bed.wait(0.6)
    for uuid in dead:
        bed.kill_kernel(uuid)
    for _ in range(3):
        bed.tick()
    for uuid in dead:
        assert [r.reason for r in bed.reports(uuid)] == ['kernel_hung']
    for uuid in [A, B] + bed.others[200:]:
        assert bed.reports(uuid) == []
    asked = [u for a in bed.asked(SampleGuests) for u in a.uuids]
    assert set(asked) <= set(dead)
    assert len(asked) <= 2 * len(dead)
    # No agent call to a dead kernel after its report.
    bed.actions.clear()
    bed.run(5)
    assert not any(bed.probes(uuid) for uuid in dead)
    assert bed.asked(SampleGuests) == []


# -- starvation, stalls, and periods seen first by the extra sample -----------


def test_a_guest_starved_after_its_sample_was_planned_is_not_reported():
    # Its stamp is late because its vCPUs wait for a host CPU: the next
    # intervals show it starved, before and after the extra sample.
    bed = Bed()
    bed.wait(0.5)
    bed.starved.add(A)
    bed.kill_kernel()         # starved: no beat, no answer
    bed.tick()
    for _ in range(30):       # a minute, within the grace
        bed.tick()
    assert bed.reports() == []


def test_a_recheck_fired_late_by_a_stalled_owner_thread():
    # The owner thread stalls 20 s: the alarm's moment passed long ago;
    # the sample asked then judges a live guest live, and a dead one dead.
    for dead in (False, True):
        bed = Bed()
        late_dead(bed)
        if not dead:
            bed.stamps[A] = None
            bed.silent.discard(A)
        bed.later.clear()
        bed.clock.advance(20.0)
        bed.wall.advance(20.0)
        bed.take(bed.do(bed.fleet.recheck()))
        bed.run(3)
        assert len(hung(bed)) == (1 if dead else 0)


@pytest.mark.parametrize('new', [10, 2, 0])
def test_a_period_change_first_seen_by_the_extra_sample(new):
    # The agent hangs, the stamp is late at period 1: the period was
    # changed live (1 -> new) and the extra sample is the first to read it.
    bed = FollowBed()
    bed.silent.add(A)
    bed.run(3)
    bed.wait(0.3)
    bed.balloon.change(new)
    bed.run(30)
    assert hung(bed) == []


def test_a_reboot_racing_a_period_change_is_no_dead_kernel():
    bed = FollowBed()
    bed.run(3)
    bed.balloon.change(10)
    bed.event(A, EventKind.REBOOTED)
    bed.run(40)
    assert bed.reports() == []
    heartbeat = bed.fleet.watched[A].heartbeat
    assert heartbeat.live and heartbeat.period == 10


def test_a_lost_agent_with_statistics_off_then_dead_is_reported_once():
    bed = FollowBed()
    bed.lose_agent()
    bed.run(3)
    bed.balloon.change(0)
    bed.silent.add(A)
    bed.run(40)
    assert bed.reasons() == ['disconnected']


def restart(bed):
    """The monitor restarts from its state file: a new fleet, the same
    records; the SampleLater alarms of the old one are gone."""
    state = bed.fleet.persisted()
    bed.fleet = make_fleet(bed.policy, bed.clock, bed.wall,
                           remembered=state.records,
                           maintenance=state.maintenance,
                           absent=state.absent)
    bed.later.clear()
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=1),
                             domain(B, 'vm-b', domain_id=2)]))


def test_a_restart_with_a_sample_pending_reports_the_dead_kernel_once():
    bed = Bed()
    late_dead(bed)
    restart(bed)
    bed.run(40)
    assert len(bed.reports()) == 1
    assert bed.reports(B) == []


def test_a_restart_with_a_sample_asked_drops_its_answer():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    restart(bed)
    bed.take(asks)
    assert bed.reports() == []
    bed.run(40)
    assert len(bed.reports()) == 1


def test_a_restart_spares_a_lost_agent_whose_kernel_lives():
    bed = Bed()
    bed.lose_agent()
    bed.run(3)
    restart(bed)
    bed.run(40)
    assert bed.reports() == []


# -- wall-clock steps on a live kernel ------------------------------------------


class SteppingBed(Bed):
    """Guest A's kernel beats every ``1 + lag`` s of monotonic time (as
    QEMU's timer does), each beat stamped with the whole seconds of the
    host's wall clock then; the wall clock steps by ``step`` at the
    monotonic moment ``at``."""

    def setup(self, lag, step, at):
        self.lag, self.step, self.at = lag, step, at
        self.base = self.wall() - self.clock()      # offset before the step
        self.first = self.clock() + 0.37
        self.silent.add(A)

    def offset(self, mono):
        return self.base + (self.step if mono >= self.at else 0.0)

    def wait(self, seconds):
        # The wall clock follows the monotonic one, plus the step.
        if not hasattr(self, 'base'):
            return super().wait(seconds)
        end = self.clock() + seconds
        while self.later and min(self.later) <= end:
            at = min(self.later)
            self.later.remove(at)
            self.clock.advance(max(at - self.clock(), 0.0))
            self.wall.now = self.clock() + self.offset(self.clock())
            self.take(self.do(self.fleet.recheck()))
        self.clock.advance(max(end - self.clock(), 0.0))
        self.wall.now = self.clock() + self.offset(self.clock())

    def stamp(self, uuid):
        if uuid != A or not hasattr(self, 'lag'):
            return super().stamp(uuid)
        now = self.clock()
        every = 1 + self.lag
        beat = self.first + ((now - self.first) // every) * every
        return int(beat + self.offset(beat))


@pytest.mark.parametrize('lag', [0.0, 0.5, 0.9])
@pytest.mark.parametrize('step', [-30.0, -0.9, -0.5, 0.5, 0.9, 30.0])
@pytest.mark.parametrize('phase', [0.1, 0.6, 1.1, 1.7])
def test_a_live_kernel_through_a_wall_clock_step_is_never_kernel_hung(
        lag, step, phase):
    bed = SteppingBed()
    bed.setup(lag, step, bed.clock() + 10 + phase)
    for _ in range(30):
        bed.tick()
    assert hung(bed) == []


# -- the period read again: an early read does not stand for a late one -------


def test_a_period_lengthened_right_after_an_early_read_is_followed():
    # 10 s (left alone) -> 2 s: the stamp moves early and the XML is read
    # at that stamp. Then, before the next beat, 2 -> 10 s again: that
    # stamp turns late by the 2 s period, and the XML must be read again,
    # or the live guest (agent lost) is judged dead by the old period.
    bed = FollowBed.with_balloon(10, wanted=0)
    bed.run(10)
    bed.balloon.change(2)
    while bed.fleet.watched[A].heartbeat.period != 2:
        bed.tick(0.5)
    bed.balloon.change(10)
    bed.run(30)
    assert hung(bed) == []
    assert bed.fleet.watched[A].heartbeat.period == 10


# -- what the extra samples keep ----------------------------------------------


def test_a_guest_gone_after_a_missed_probe_is_not_kept():
    # Its agent timed out (an extra sample planned for that), then the
    # guest stopped for good: nothing of it stays behind in the fleet.
    bed = Bed()
    bed.silent.add(A)
    bed.tick()
    assert bed.fleet._rechecks._missed
    bed.event(A, EventKind.STOPPED, 'destroyed')
    bed.run(3)
    assert A not in bed.fleet.watched
    assert bed.fleet._rechecks._missed == {}


@pytest.mark.parametrize('event', [(EventKind.CRASHED, ''),
                                   (EventKind.WATCHDOG, 'none')])
def test_a_failure_held_in_maintenance_is_reported_once_not_twice(event):
    # The kernel dies late in an interval (its extra sample planned), the
    # operator starts maintenance, a panic is told then (held): when
    # maintenance ends one report, the held one, not a kernel_hung too.
    bed = Bed()
    late_dead(bed)
    bed.maintenance(True)
    bed.event(A, *event)
    bed.run(5)
    assert bed.reports() == []
    bed.maintenance(False)
    bed.run(20)
    assert len(bed.reports()) == 1
    assert bed.reasons() != ['kernel_hung']


def test_a_crash_loaded_between_ask_and_answer_waits_for_kdump():
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    bed.event(A, EventKind.CRASH_LOADED)
    bed.take(asks)
    bed.run(20)
    assert bed.reports() == []


def test_windows_told_between_ask_and_answer_reports_no_kernel_hung():
    from masakari_introspect.core import kernel
    bed = Bed()
    late_dead(bed)
    asks = ask_due(bed)
    kernel.os_told(bed.fleet.watched[A], 'mswindows')
    bed.take(asks)
    assert hung(bed) == []


# -- periods changed with the agent answering, hung or lost --------------------


@pytest.mark.parametrize('periods', [(10, 1), (0, 1), (0, 2), (10, 0, 1)])
def test_periods_changed_with_the_agent_answering_then_the_kernel_dies(
        periods):
    bed = FollowBed()
    bed.run(3)
    for period in periods:
        bed.balloon.change(period)
        bed.run(15)
    assert bed.reports() == []
    heartbeat = bed.fleet.watched[A].heartbeat
    assert heartbeat.live and heartbeat.period == periods[-1]
    bed.balloon.dead = True
    bed.silent.add(A)
    start = bed.wall()
    while not bed.reports() and bed.wall() - start < 60:
        bed.tick()
    assert bed.reasons() == ['kernel_hung']
    last = periods[-1]
    assert bed.wall() - start <= last + 2 * last + 1 + bed.interval + 1
    bed.run(10)
    assert len(bed.reports()) == 1


@pytest.mark.parametrize('period', [10, 0, 2])
def test_a_hung_agent_through_a_period_change_is_unresponsive_once(period):
    bed = FollowBed()
    bed.run(3)
    bed.silent.add(A)
    bed.balloon.change(period)
    bed.run(40)
    assert bed.reasons() == ['unresponsive']


def test_a_job_hiding_a_relearned_heartbeat_of_a_lost_agent_is_no_evidence():
    # A sample without a stamp says nothing either way: a lost agent
    # whose heartbeat is learned again (a clock step) stays spared while a
    # job hides its stamp, as one whose heartbeat is live does.
    bed = Bed()
    bed.lose_agent()
    bed.run(3)
    bed.wall.advance(30.0)
    bed.hidden.add(A)
    bed.run(30)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST
    bed.hidden.discard(A)
    bed.run(30)
    assert bed.reports() == []
    assert bed.fleet.watched[A].heartbeat.live


# -- a reboot or shutdown from inside, its event late -------------------------


@pytest.mark.parametrize('delay', [0.5, 2.0, 4.0, 6.0, 9.0])
@pytest.mark.parametrize('kind', [EventKind.REBOOTED, EventKind.STOPPED])
def test_a_reboot_from_inside_whose_event_is_late_is_not_reported(delay,
                                                                  kind):
    # The agent stops first (its port closed), then the kernel shuts its
    # devices down (no more beats); the reset or stop event comes
    # ``delay`` s after the last beat, the extra sample before it.
    bed = Bed()
    bed.wait(0.3)
    bed.lose_agent()
    bed.wait(0.5)
    bed.kill_kernel()
    advance(bed, delay)
    detail = 'shutdown' if kind is EventKind.STOPPED else ''
    if kind is EventKind.REBOOTED:
        bed.stamps[A] = None      # the new kernel beats
        bed.silent.discard(A)
        bed.closed.discard(A)
    bed.event(A, kind, detail)
    bed.run(10)
    assert bed.reports() == []


@pytest.mark.parametrize('interval', [2.0, 5.0, 10.0])
def test_a_guest_starved_late_in_an_interval_is_not_reported(interval):
    # Its vCPUs wait for a host CPU from 1.6 s before a tick: that
    # interval does not show it starved (less than half of it), but its
    # stamp is late at the tick. The next interval shows it starved; the
    # extra sample between must not report it dead meanwhile.
    bed = Bed(interval=interval)
    bed.wait(interval - 1.6)
    bed.kill_kernel()          # no beat, no answer: starved
    bed.tick(1.6)
    bed.starved.add(A)
    advance(bed, 60)
    assert bed.reports() == []


def test_many_guests_beating_a_little_late_ask_no_extra_sample():
    # 100 live guests answering QEMU up to 0.45 s after each period
    # (less than half a period late), their beats anywhere in a second:
    # never late, so no extra sample at all, and none reported.
    bed = ManyBed(100)
    for i, uuid in enumerate(bed.others):
        bed.beat(uuid, lag=(i % 10) * 0.045,
                 first=int(bed.wall()) + (i * 0.137) % 1)
    for _ in range(30):
        bed.tick()
    assert bed.asked() == [] and bed.asked(SampleGuests) == []
    assert not any(bed.reports(u) for u in bed.others)


def test_a_starved_crowd_and_dead_kernels_together():
    # 50 guests starved from late in an interval (stamps late, no
    # answers) beside 50 dead kernels: the dead reported once each, in
    # few calls, the starved never.
    bed = ManyBed(100, interval=5.0)
    starved, dead = bed.others[:50], bed.others[50:]
    bed.wait(5.0 - 1.6)
    for uuid in starved + dead:
        bed.kill_kernel(uuid)
    bed.tick(1.6)
    bed.starved.update(starved)
    advance(bed, 40)
    for uuid in dead:
        assert [r.reason for r in bed.reports(uuid)] == ['kernel_hung']
    for uuid in starved:
        assert bed.reports(uuid) == []
    assert len(bed.asked(SampleGuests)) <= 4


@pytest.mark.parametrize('after', [0.0, 0.4, 0.9, 1.3, 1.9])
@pytest.mark.parametrize('probe_back', [True, False])
def test_a_dead_kernel_at_the_default_period_is_reported_in_bound(
        after, probe_back):
    # Period 2 (the default), interval 2: within 2 x 2 + 1 + 2 + 1 = 8 s
    # of its last beat, its agent's timeouts seen or not.
    bed = Bed(period=2)
    bed.run(10)
    bed.wait(after)
    bed.kill_kernel()
    if not probe_back:
        bed.silent.discard(A)
        bed.closed.add(A)          # its probes come back without a timeout
    last = int(bed.wall())
    next_tick = bed.fleet._last_tick + bed.interval
    while not hung(bed) and bed.wall() - last < 30:
        bed.wait(0.05)
        if bed.clock() >= next_tick - 1e-9:
            bed.tick(0)
            next_tick += bed.interval
    assert len(hung(bed)) == 1
    assert bed.wall() - last <= 2 * 2 + 1 + bed.interval + 1
