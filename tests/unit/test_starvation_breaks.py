"""Starved is not dead (issue 19, item 4), combined with what else happens
to a guest: hangs and dead kernels, resets, agent loss, restarts of the
monitor, missing or odd vCPU figures (core/starvation.py through the
fleet)."""

import logging

from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.starvation import Starvation
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.fakes import domain
from tests.unit.fakes import make_fleet
from tests.unit.heartbeat_bed import NOT_BACK
from tests.unit.heartbeat_bed import Bed
from tests.unit.test_application import INTERVAL as APP_INTERVAL
from tests.unit.test_application import Bed as AppBed
from tests.unit.test_heartbeat import crash_loaded
from tests.unit.test_heartbeat import starve
from tests.unit.test_starvation import BED_WAITS

WARNED = ('starved of CPU: its vCPU or QEMU main thread '
          'waited')


def warnings(caplog):
    return [r for r in caplog.records if WARNED in r.getMessage()]


def in_episode(bed, uuid=A):
    return bed.fleet.watched[uuid].starvation.shields(bed.clock())


def tick_vcpus_late(bed):
    """One interval whose probe comes back (a miss: its timeout) before
    the vCPU call answers: through libvirt a starved guest's vCPU figures
    come 0.6-3.3 s after they were asked (design guide)."""
    bed.clock.advance(2)
    bed.wall.advance(2)
    bed.spend(2)
    sent = bed.do(bed.fleet.tick())
    figures = bed.vcpus()
    bed.answer(sent)
    bed.do(bed.fleet.vcpus_sampled(figures))
    bed.do(bed.fleet.sampled(bed.sample()))


# -- a judgement that waits for a sample ----------------------------------------


def test_a_judgement_waiting_when_starvation_is_seen_waits_for_its_end():
    # Two missed intervals, then the guest is starved; the third miss is
    # back before the vCPU figures that show the starvation, and reaches
    # the threshold: the judgement waits for a sample. The samples that
    # follow are shielded, and so is the end of the interval.
    bed = Bed()
    bed.silent.add(A)
    bed.run(2)
    assert bed.state().misses == 2
    starve(bed)
    tick_vcpus_late(bed)
    assert in_episode(bed)
    bed.run(20)
    assert bed.reports() == []
    bed.starved.discard(A)                  # CPU back: it answers
    bed.silent.discard(A)
    bed.stamps[A] = None
    bed.run(5)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_judgement_waiting_in_an_episode_is_made_after_the_grace():
    bed = Bed()
    bed.silent.add(A)
    bed.run(2)
    starve(bed, grace=20.0)
    tick_vcpus_late(bed)
    bed.run(15)
    assert len(bed.reports()) == 1


# -- agent loss and resets ------------------------------------------------------


def test_an_agent_that_closes_its_port_while_starved_is_not_reported():
    # Its heartbeat is stale (starved), so the agent is not "lost, kernel
    # alive": its probes find the port closed. Those are missed intervals,
    # and in a starved interval none counts.
    bed = Bed()
    starve(bed)
    bed.run(3)
    assert bed.fleet.watched[A].heartbeat.stale
    bed.lose_agent()
    bed.run(20)
    assert bed.reports() == []


def test_an_agent_that_closes_its_port_while_starved_is_judged_after_the_grace():
    bed = Bed()
    starve(bed, grace=20.0)
    bed.run(3)
    bed.lose_agent()
    bed.run(10)
    assert len(bed.reports()) == 1


def test_a_starved_guest_that_reboots_is_no_boot_hang_within_the_grace():
    # The new boot is slow (starved): its agent has not connected when the
    # boot grace ends. Its probes find the port closed.
    bed = Bed(boot_grace=10)
    starve(bed)
    bed.run(3)
    bed.closed.add(A)
    bed.event(A, EventKind.REBOOTED)
    bed.run(20)
    assert bed.reports() == []
    bed.starved.discard(A)                  # CPU back, the boot goes on
    bed.run(5)                              # not connected yet: boot hang?
    bed.closed.discard(A)
    bed.silent.discard(A)
    bed.stamps[A] = None
    bed.event(A, EventKind.AGENT_CONNECTED)
    bed.run(3)
    assert bed.state().phase is Phase.HEALTHY


def test_a_busy_or_failing_agent_call_in_a_starved_interval_is_no_miss():
    for outcome in (Outcome.BUSY, Outcome.ERROR, Outcome.DISCONNECTED):
        bed = Bed()
        starve(bed)
        bed.run(2)
        bed.answers[A] = outcome
        bed.run(6)
        assert bed.state().misses == 0, outcome
        assert bed.reports() == [], outcome


def test_an_agent_that_closed_its_port_while_starved_is_lost_once_cpu_is_back(
        caplog):
    # Starved, the guest's agent stops (its port closed); the CPU comes
    # back and the kernel beats again: agent gone, kernel alive, not
    # reported (agent_loss = warn); the closed port while starved was no
    # miss to judge it by.
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.lose_agent()
    bed.run(5)
    bed.starved.discard(A)
    bed.stamps[A] = None
    bed.run(10)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


# -- counters that go back ------------------------------------------------------


class Counters:
    """One vCPU's cumulative figures, read every 2 s."""

    def __init__(self, ran=0.0, waited=0.0):
        self.starvation = Starvation(grace=120.0)
        self.now = 100.0
        self.ran, self.waited = int(ran * 1e9), int(waited * 1e9)
        self.read()

    def read(self):
        self.starvation.sample(self.now, ((self.ran, self.waited),),
                               'g', 'u')

    def span(self, ran, waited):
        self.now += 2.0
        self.ran += int(ran * 1e9)
        self.waited += int(waited * 1e9)
        self.read()
        return self.starvation.shields(self.now)


def test_counters_that_start_again_from_zero_do_not_end_an_episode(caplog):
    # A QEMU process started again under the same domain (its stop not
    # seen), a vCPU thread made again: the figures start from 0. Taken as
    # a span, the wait "went back" by hours and the spans after it looked
    # quiet together: the episode ended, and a second WARNING and a fresh
    # grace followed.
    caplog.set_level(logging.INFO)
    counters = Counters(ran=3600.0, waited=900.0)   # hours of figures
    assert counters.span(0.0, 1.8)
    counters.ran = counters.waited = 0              # starts again
    # Spans each under half waited, but a third together, running nothing.
    shielded = [counters.span(0.0, 0.7) for _ in range(6)]
    assert all(shielded)
    shielded = [counters.span(0.0, waited) for waited in BED_WAITS]
    assert all(shielded)
    assert counters.starvation.since == 100.0
    assert len(warnings(caplog)) == 1
    assert not any('no longer starved' in r.getMessage()
                   for r in caplog.records)


def test_a_span_whose_figures_went_back_is_no_span():
    counters = Counters(ran=50.0, waited=50.0)
    counters.waited -= int(10e9)                   # read back by 10 s
    counters.span(0.0, 1.8)
    assert counters.starvation.intervals == 0
    assert counters.span(0.0, 1.8)                 # from the new figures


# -- vCPU figures missing --------------------------------------------------------


def ticks_without_vcpus(bed, ticks, found=None):
    """Ticks whose vCPU call fails (``found`` None) or leaves guest A out
    (``found`` a dict without it)."""
    for _ in range(ticks):
        bed.tick(vcpus=found)


def test_an_episode_does_not_shield_a_guest_while_its_figures_are_missing():
    # Starved, then its vCPU figures cannot be read any more (the call
    # fails each interval): no evidence that it is still starved. A hung
    # statistics call cannot shield a hang: it is judged on its misses
    # (here a heartbeat gone stale while starved: kernel_hung), not
    # 120 s later.
    for found in (None, {}):
        bed = Bed()
        starve(bed)
        bed.run(3)
        ticks_without_vcpus(bed, 8, found)
        assert len(bed.reports()) == 1, found


def test_one_failed_vcpu_call_does_not_end_an_episode():
    bed = Bed()
    starve(bed)
    bed.run(3)
    for _ in range(5):
        ticks_without_vcpus(bed, 1)
        bed.run(2)
    assert bed.reports() == []
    assert in_episode(bed)


def test_figures_back_after_missing_ones_resume_the_episode_not_a_new_one(
        caplog):
    # The episode went on while its figures were missing: no second
    # WARNING, and its grace is not given again.
    bed = Bed()
    starve(bed, grace=30.0)
    bed.run(3)
    ticks_without_vcpus(bed, 3)
    assert not in_episode(bed)
    bed.silent.discard(A)                   # its agent got through
    bed.run(2)
    assert in_episode(bed)
    assert len(warnings(caplog)) == 1
    bed.silent.add(A)
    bed.run(8)                              # 32 s since it began
    assert not in_episode(bed)
    assert len(bed.reports()) == 1


# -- starvation_grace 0 ------------------------------------------------------------


def test_a_grace_of_0_shields_nothing_and_its_warning_says_so(caplog):
    bed = Bed()
    starve(bed, grace=0.0)
    bed.run(4)
    assert bed.reasons() == ['kernel_hung']
    [warning] = warnings(caplog)
    assert 'do not count' not in warning.getMessage()
    assert 'judged as usual' in warning.getMessage()
    assert bed.fleet.watched[A].starvation.intervals == 4


# -- a real hang or a dead kernel in or after an episode ------------------------------


def test_a_hung_agent_is_reported_once_the_episode_ends():
    # The CPU comes back, the kernel beats, the agent stays hung: three
    # quiet spans end the episode, then the failure window as usual.
    bed = Bed()
    starve(bed)
    bed.run(5)
    bed.starved.discard(A)
    bed.stamps[A] = None
    bed.run(3)
    assert not in_episode(bed)
    assert bed.reports() == []
    bed.run(4)
    assert bed.reasons() == ['unresponsive']


def test_a_kernel_dead_through_the_whole_grace_is_reported_at_its_end(caplog):
    # Starved all along, just above the quiet line (one starved span,
    # then spans that wait nearly half the time and run nothing): the
    # episode never ends; the guest is judged once the grace is over.
    bed = Bed()
    starve(bed, grace=20.0)
    bed.run(1)
    bed.starved.discard(A)
    for _ in range(12):
        vcpu = bed.vcpu[A]
        bed.tick()
        bed.vcpu[A] = (vcpu[0], vcpu[1] + int(0.95e9))
    assert bed.fleet.watched[A].starvation.since is not None   # still on
    assert bed.reasons() == ['kernel_hung']
    assert len(warnings(caplog)) == 1
    [view] = [v for v in bed.fleet.snapshot() if v.uuid == A]
    assert view.starved_intervals == 1


def test_a_crash_while_starved_is_reported_at_once():
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.event(A, EventKind.CRASHED)
    assert bed.reasons() == ['crashed']


def test_a_crash_loaded_while_starved_is_crashed_at_the_kdump_timeout():
    # The crash is no miss: starvation does not stretch the wait for the
    # dump (kdump_timeout) nor shield its end.
    bed = Bed()
    starve(bed)
    bed.run(3)
    crash_loaded(bed, timeout=20.0)
    bed.run(9)
    assert bed.reports() == []
    bed.run(2)
    assert bed.reasons() == ['crashed']


def test_a_crash_held_in_maintenance_while_starved_is_reported_after_it():
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.maintenance(True)
    bed.event(A, EventKind.CRASHED)
    bed.run(3)
    assert bed.reports() == []
    bed.maintenance(False)
    assert bed.reasons() == ['crashed']


def test_maintenance_in_an_episode_neither_ends_it_nor_gives_a_new_grace():
    bed = Bed()
    starve(bed, grace=30.0)
    bed.run(3)
    bed.maintenance(True)
    bed.run(5)
    bed.maintenance(False)
    bed.run(3)
    assert bed.reports() == []
    assert in_episode(bed)
    bed.run(8)                              # the grace, from its start
    assert len(bed.reports()) == 1


def test_a_domain_job_on_a_starved_guest_is_not_reported():
    bed = Bed()
    starve(bed)
    bed.run(2)
    bed.answers[A] = Outcome.JOB
    bed.run(10)
    assert bed.reports() == []


# -- the monitor restarts, the clocks step ----------------------------------------


def test_a_restart_of_the_monitor_in_an_episode_does_not_get_it_reported():
    # The episode is not kept on disk: after the restart the first span
    # is seen an interval later, and that interval's miss counts (one of
    # the three of the threshold); the new episode has its own WARNING.
    bed = Bed()
    starve(bed)
    bed.run(5)
    records = bed.fleet.persisted().records
    bed.fleet = make_fleet(bed.policy, bed.clock, bed.wall,
                           remembered=records)
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=1),
                             domain(B, 'vm-b', domain_id=2)]))
    bed.fleet.watched[A].starvation.grace = 120.0
    bed.run(20)
    assert bed.reports() == []
    assert bed.state().misses <= 1


def test_wall_clock_steps_in_an_episode_change_nothing(caplog):
    # The episode runs on the monotonic clock; the heartbeat is learned
    # again after each step.
    bed = Bed()
    starve(bed, grace=30.0)
    bed.run(3)
    bed.wall.advance(3600)
    bed.run(3)
    bed.wall.advance(-7200)
    bed.run(3)
    assert bed.reports() == []
    assert in_episode(bed)
    assert len(warnings(caplog)) == 1
    bed.run(6)                              # the grace is over: the
    assert bed.reports() == []              # misses count from there
    bed.run(4)
    assert bed.reasons() == ['unresponsive']


def test_a_stalled_owner_thread_gives_one_long_span():
    # Nothing ran for 60 s (the owner thread or the host stood still):
    # one 60 s span, starved, then the episode goes on.
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.tick(60.0)
    assert in_episode(bed)
    bed.run(3)
    assert bed.reports() == []
    assert bed.fleet.watched[A].starvation.intervals == 7


# -- the domain goes, comes back, changes ---------------------------------------


def test_a_new_domain_under_the_same_uuid_starts_afresh(caplog):
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.do(bed.fleet.event(DomainEvent(A, 'vm-a', EventKind.STOPPED,
                                       'destroyed')))
    assert A not in bed.fleet.watched
    bed.vcpu[A] = (0, 0)
    bed.do(bed.fleet.looked_up(A, domain(A, 'vm-a', domain_id=7)))
    assert not in_episode(bed)
    bed.run(3)
    assert in_episode(bed)                  # still starved: a new episode
    assert len(warnings(caplog)) == 2
    assert bed.reports() == []


def test_a_new_qemu_process_found_by_a_listing_keeps_the_episode(caplog):
    # Its stop not seen: the listing finds another domain id; the vCPU
    # figures start again from 0.
    bed = Bed()
    starve(bed)
    bed.run(3)
    bed.vcpu[A] = (0, 0)
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=9),
                             domain(B, 'vm-b', domain_id=2)]))
    bed.run(10)
    assert bed.reports() == []
    assert in_episode(bed)
    assert len(warnings(caplog)) == 1


def test_vcpus_hot_plugged_in_an_episode_keep_it():
    bed = Bed()
    starve(bed)
    bed.run(3)
    real = bed.vcpus

    def two():
        found = real()
        found[A] = found[A] + ((0, 0),)
        return found
    bed.vcpus = two
    bed.run(5)
    assert bed.reports() == []
    assert in_episode(bed)


# -- not starved -----------------------------------------------------------------


def test_a_healthy_idle_guest_with_a_little_wait_is_never_starved():
    bed = Bed()
    for _ in range(30):
        vcpu = bed.vcpu[A]
        bed.tick()
        # idle: runs 1 ms, waits 10 ms (0.5 %) a span
        bed.vcpu[A] = (vcpu[0] + int(1e6), vcpu[1] + int(1e7))
    assert bed.fleet.watched[A].starvation.intervals == 0
    assert bed.fleet.watched[A].starvation.since is None


def test_a_panicked_kernel_spinning_on_one_vcpu_of_two_is_not_starved():
    # The panicking vCPU spins (it gets 30 % of a loaded host CPU, waiting
    # the rest); the others were stopped by the panic and halt: they
    # neither run nor wait.
    starvation = Starvation(grace=120.0)
    starvation.sample(100.0, ((0, 0), (0, 0)), 'g', 'u')
    for n in range(1, 6):
        starvation.sample(100.0 + 2 * n,
                          ((int(n * 0.6e9), int(n * 1.4e9)), (0, 0)),
                          'g', 'u')
    assert starvation.intervals == 0
    assert not starvation.shields(110.0)


# -- application probes ------------------------------------------------------------


def test_application_runs_that_time_out_while_starved_are_no_failure():
    # Starved, the guest still answers its pings now and then (a ping is
    # cheap; a miss is none while starved), so it stays healthy and its
    # application probe runs: a run that needs CPU for longer times out.
    bed = AppBed(AppProbe('web', ('/bin/true',), timeout=1, threshold=2))
    bed.tick()                              # healthy
    ran = waited = 0
    for n in range(10):                     # 100 s, within the grace
        ran, waited = ran + int(0.02 * APP_INTERVAL * 1e9), \
            waited + int(0.9 * APP_INTERVAL * 1e9)
        runs = bed.tick(answer=n % 2 == 0)
        bed.do(bed.fleet.vcpus_sampled({A: ((ran, waited),)}))
        for run in runs:
            bed.back(run, RunOutcome.TIMEOUT)
    assert bed.fleet.watched[A].starvation.intervals >= 8
    assert bed.reports() == []


# -- a probe that does not come back ---------------------------------------------


def test_a_probe_abandoned_while_starved_is_no_miss():
    # Inside libvirt past probe_deadline (60 s): abandoned and sent again.
    # While the guest is starved that interval is no miss either.
    bed = Bed()
    starve(bed)
    bed.run(2)
    bed.stuck.add(A)
    bed.run(35)                             # 70 s; A's probe never back
    assert len(bed.probes()) >= 2            # abandoned, sent again
    assert bed.state().misses == 0
    assert bed.reports() == []


def test_a_lost_agent_whose_guest_is_then_starved_stays_lost():
    # Agent gone, kernel alive (not reported); then the host starves the
    # guest, so its heartbeat stops: not judged a dead kernel within the
    # grace, and lost again once the CPU is back.
    bed = Bed()
    bed.lose_agent()
    bed.run(2)
    assert bed.state().phase is Phase.AGENT_LOST
    starve(bed)
    bed.closed.add(A)
    bed.run(20)
    assert bed.reports() == []
    bed.starved.discard(A)
    bed.stamps[A] = None
    bed.run(10)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_vcpu_answer_handled_twice_counts_once():
    bed = Bed()
    starve(bed)
    for n in range(10):                             # a tick every 2 s
        bed.clock.advance(1.5 if n else 2)
        bed.wall.advance(1.5 if n else 2)
        bed.spend(2)
        sent = bed.do(bed.fleet.tick())
        figures = bed.vcpus()
        bed.do(bed.fleet.vcpus_sampled(figures))
        bed.clock.advance(0.5)
        bed.wall.advance(0.5)
        bed.do(bed.fleet.vcpus_sampled(figures))    # again, 0.5 s later
        bed.do(bed.fleet.sampled(bed.sample()))
        bed.answer(sent)
    assert bed.fleet.watched[A].starvation.intervals == 10
    assert in_episode(bed)
    assert bed.reports() == []


def test_a_sample_out_of_order_neither_spans_nor_restarts_the_quiet_count():
    # An older reading handled after a newer one (not made by the fleet,
    # which dates each answer when it was asked, one call at a time): no
    # span, and the quiet spans before still count.
    counters = Counters()
    assert counters.span(0.0, 1.8)
    assert counters.span(0.0, 0.0)
    assert counters.span(0.0, 0.0)
    older = (counters.now - 1.0, ((counters.ran, counters.waited - 1),))
    counters.starvation.sample(*older, 'g', 'u')
    assert not counters.starvation.starved
    assert not counters.span(0.0, 0.0)      # the third quiet span


def test_a_vcpu_call_that_never_comes_back_does_not_shield_for_the_grace():
    # The vCPU call hangs (its one thread never answers): each tick finds
    # the last one still out, and no figures come. As with a call that
    # fails, three such intervals lift the shield: the dead kernel is
    # reported, not 120 s later.
    bed = Bed()
    starve(bed)
    bed.run(3)
    for _ in range(8):
        bed.tick(vcpus=NOT_BACK)
    assert len(bed.reports()) == 1


def test_a_late_vcpu_answer_each_interval_keeps_the_shield():
    # Through libvirt a starved guest's figures may come after the next
    # tick (0.6-3.3 s): one interval without them is no blindness.
    bed = Bed()
    starve(bed)
    bed.run(2)
    for _ in range(10):                     # a call every other tick
        bed.tick(vcpus=NOT_BACK)
        bed.tick()
    assert bed.reports() == []
    assert in_episode(bed)
