"""The kernel heartbeat (balloon.last-update) and the kernel_hung verdict."""

import dataclasses

import pytest

from masakari_introspect.core import actions as f
from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.policy import AgentLoss
from tests.unit.fakes import A, B
from tests.unit.heartbeat_bed import INTERVAL, PERIOD, Bed, live_heartbeat


# -- the heartbeat alone -------------------------------------------------------


def test_a_first_stamp_is_learned_not_live():
    beat = Heartbeat()
    assert not beat.sample(100.0, 1000.0, 1000, PERIOD)
    assert not beat.live and beat.age() is None


def test_a_changed_stamp_is_live_and_an_unchanged_one_goes_stale_once():
    beat = live_heartbeat()
    assert beat.live and beat.age() == 0.0
    assert not beat.sample(103.0, 1003.0, 1001, PERIOD)   # age 2 < 3
    assert beat.sample(104.5, 1004.5, 1001, PERIOD)       # age 3.5
    assert beat.stale and beat.stale_since == 104.0
    assert not beat.sample(106.0, 1006.0, 1001, PERIOD)   # still stale
    assert beat.age() == 5.0
    beat.sample(107.0, 1007.0, 1007, PERIOD)              # back
    assert beat.live and not beat.stale


def test_a_new_stamp_already_stale_when_sampled_goes_stale_at_once():
    # A probe interval longer than 2 x period + 1: the kernel beat once
    # after the last sample and died; the next sample sees that beat
    # already 8 s old. Stale there, not an interval later.
    beat = live_heartbeat()
    assert beat.sample(110.0, 1010.0, 1002, PERIOD)
    assert beat.stale_since == 105.0
    assert not beat.sample(120.0, 1020.0, 1002, PERIOD)   # still stale


def test_stale_after_follows_the_period():
    assert stale_after(1) == 3.0
    assert stale_after(2) == 5.0
    assert stale_after(10) == 21.0


def test_a_sample_without_a_stamp_or_period_is_no_evidence():
    beat = live_heartbeat()
    assert not beat.sample(120.0, 1020.0, None, PERIOD)
    assert not beat.sample(121.0, 1021.0, 1001, 0)
    assert not beat.stale


def test_a_wall_clock_step_relearns_the_heartbeat():
    beat = live_heartbeat()
    # The wall clock jumps 30 s ahead: the old stamp looks 32 s old.
    assert not beat.sample(103.0, 1033.0, 1001, PERIOD)
    assert not beat.live and not beat.stale
    assert not beat.sample(108.0, 1038.0, 1001, PERIOD)
    beat.sample(109.0, 1039.0, 1039, PERIOD)
    assert beat.live and beat.age() == 0.0


def test_a_reset_makes_it_not_live_until_the_stamp_changes():
    beat = live_heartbeat()
    beat.reset()
    assert not beat.sample(110.0, 1010.0, 1001, PERIOD)
    assert not beat.live
    beat.sample(111.0, 1011.0, 1011, PERIOD)
    assert beat.live


def test_a_beat_between_the_last_sample_and_a_reset_is_not_the_new_kernel():
    beat = live_heartbeat()
    # The old kernel beats once more (1002), then the guest resets; the
    # new kernel has not loaded its balloon driver yet.
    beat.reset(102.5)
    assert not beat.sample(103.0, 1003.0, 1002, PERIOD)
    assert not beat.live
    assert not beat.sample(109.0, 1009.0, 1002, PERIOD)
    assert not beat.live and not beat.stale
    beat.sample(110.0, 1010.0, 1010, PERIOD)      # the new kernel beats
    assert beat.live and beat.age() == 0.0


def test_a_sample_asked_before_a_reset_says_nothing_after_it():
    beat = live_heartbeat()
    beat.reset(110.0)
    # Asked at 109.5 (the old kernel's last beat), handled after the reset.
    assert not beat.sample(109.5, 1009.5, 1009, PERIOD)
    assert beat.learning(110.5)            # no sample since the reset
    beat.sample(111.0, 1011.0, 1009, PERIOD)
    assert not beat.live                   # the stamp to move from
    beat.sample(112.0, 1012.0, 1012, PERIOD)
    assert beat.live


def test_a_first_stamp_after_a_reset_from_after_it_is_the_new_kernel():
    beat = live_heartbeat()
    beat.reset(101.5)                       # wall 1001.5
    # The new kernel beat at 1003, before the first sample after the
    # reset: a beat after the reset, not the old kernel's last one.
    assert not beat.sample(103.5, 1003.5, 1003, PERIOD)
    assert beat.live and beat.age() == 0.5
    assert beat.sample(106.5, 1006.5, 1003, PERIOD)     # then it died


def test_a_first_stamp_after_a_reset_without_a_sample_before_is_learned():
    # No sample before the reset to check the wall clock against: it may
    # have stepped back since the old kernel's last beat (1000), which
    # would then look later than the reset.
    beat = Heartbeat()
    beat.reset(100.0)
    assert not beat.sample(103.0, 943.0, 1000, PERIOD)
    assert not beat.live


# -- the fleet -------------------------------------------------------------------


def test_a_dead_kernel_is_reported_at_once_as_kernel_hung():
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.tick()                      # age 2: not yet
    assert bed.reports() == []
    bed.tick()                      # age 4 >= 3: stale, no answer, no work
    assert bed.reasons() == ['kernel_hung']
    assert bed.state().reason is Reason.KERNEL_HUNG
    assert bed.state().misses < 10   # without waiting for the threshold
    assert bed.reports(B) == []


def test_no_agent_call_while_the_heartbeat_stays_stale():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert bed.reports()
    probes = len(bed.probes())
    bed.run(10)
    assert len(bed.probes()) == probes
    assert len(bed.reports()) == 1


def test_the_guest_is_probed_again_when_the_heartbeat_comes_back():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    probes = len(bed.probes())
    bed.stamps[A] = None             # the kernel answers again
    bed.silent.discard(A)
    bed.run(4)
    assert len(bed.probes()) > probes
    assert bed.state().phase is Phase.HEALTHY


def test_a_stale_heartbeat_of_a_guest_that_answers_is_not_a_dead_kernel():
    bed = Bed()
    bed.stamps[A] = int(bed.wall())   # balloon driver unloaded, agent fine
    bed.run(5)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_stale_heartbeat_of_a_guest_that_works_is_not_a_dead_kernel():
    bed = Bed(threshold=20)
    bed.kill_kernel()
    for _ in range(4):
        bed.work[A] += 5             # disk work after the heartbeat stopped
        bed.tick()
    assert [r for r in bed.reports() if r.reason == 'kernel_hung'] == []


def test_a_dead_kernel_in_maintenance_is_judged_afresh_after_it():
    # Not probed in maintenance: the stale heartbeat is no verdict there;
    # after it the heartbeat is learned again and the agent's window
    # judges the guest.
    bed = Bed()
    bed.maintenance(True)
    bed.kill_kernel()
    bed.run(3)
    assert bed.reports() == []
    assert bed.state().held is None
    bed.maintenance(False)
    bed.run(bed.policy.failure_threshold + 1)
    assert bed.reasons() == ['unresponsive']


def test_a_reboot_pausing_the_heartbeat_is_not_a_dead_kernel():
    bed = Bed()
    bed.event(A, EventKind.REBOOTED)
    bed.stamps[A] = int(bed.wall())   # the driver is not loaded yet
    bed.run(4)
    bed.stamps[A] = None
    bed.tick()
    assert [r for r in bed.reports() if r.reason == 'kernel_hung'] == []


def test_a_reboot_right_after_a_beat_the_sample_missed_is_not_kernel_hung():
    # Seen in CI: the old kernel beat once more after the last sample, the
    # guest reset, and the new kernel took seconds to load its balloon
    # driver; that last beat made the heartbeat live again at once, and
    # stale two seconds later: a rebooting guest reported kernel_hung.
    bed = Bed(boot_grace=30)
    bed.reboot_after_a_missed_beat(1.5)
    bed.run(6)                        # the new kernel boots for 12 s
    assert bed.reports() == []
    assert bed.state().phase is Phase.GRACE
    [view] = [s for s in bed.fleet.snapshot() if s.uuid == A]
    assert view.heartbeat_age is None    # not the old kernel's, as live
    bed.stamps[A] = None              # its balloon driver is loaded
    bed.closed.discard(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    bed.run(2)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


@pytest.mark.parametrize('delay, interval', [
    (1.0, INTERVAL), (2.5, INTERVAL), (1.0, 6.0)])
def test_a_new_kernel_that_beats_once_before_the_first_sample_and_dies(
        delay, interval):
    # The new kernel loads its balloon driver soon after the reset event,
    # beats once before the first sample after it, and dies: its one beat
    # is after the reset, so the heartbeat is live, and stale in bound
    # (with samples further apart than 2 x period + 1 s, on the first one).
    bed = Bed(boot_grace=30, threshold=10)
    bed.closed.add(A)                 # no agent until the new one starts
    bed.stamps[A] = int(bed.wall())   # the old kernel's last beat
    bed.clock.advance(0.2)
    bed.wall.advance(0.2)
    bed.event(A, EventKind.REBOOTED)
    bed.clock.advance(delay)
    bed.wall.advance(delay)
    bed.stamps[A] = int(bed.wall())   # the new kernel's one beat
    beat = bed.wall()
    bed.silent.add(A)
    while not bed.reports() and bed.wall() - beat < 30:
        bed.tick(interval)
    assert bed.reasons() == ['kernel_hung']
    assert bed.wall() - beat <= stale_after(PERIOD) + interval + 1


def test_a_pause_and_resume_do_not_make_the_heartbeat_stale():
    bed = Bed()
    bed.event(A, EventKind.PAUSED, 'user')
    bed.stamps[A] = int(bed.wall())
    bed.run(5)
    bed.event(A, EventKind.RESUMED)
    bed.tick()
    assert bed.reports() == []


def test_a_wall_clock_step_is_not_a_dead_kernel():
    bed = Bed()
    bed.wall.advance(60)              # the host's clock steps ahead
    bed.run(3)
    assert bed.reports() == []


def test_a_job_hiding_the_balloon_fields_is_no_evidence():
    bed = Bed()
    bed.hidden.add(A)
    bed.stamps[A] = int(bed.wall())
    bed.run(5)
    assert bed.reports() == []


def without_statistics():
    bed = Bed()
    bed.period[A] = 0
    return bed


@pytest.mark.parametrize('make_bed', [
    without_statistics,                         # judged by its agent
    lambda: Bed(kernel_heartbeat=False),        # the heartbeat is off
], ids=['without_statistics', 'heartbeat_off'])
def test_without_a_heartbeat_a_dead_kernel_waits_for_the_window(make_bed):
    bed = make_bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert bed.reports() == []
    bed.run(4)
    assert bed.reasons() == ['unresponsive']


def test_status_shows_the_heartbeat_age():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    view = {s.uuid: s for s in bed.fleet.snapshot()}
    assert view[A].heartbeat_age == 2.0
    assert view[B].heartbeat_age == 0.0


# -- agent lost, kernel alive ---------------------------------------------------


def test_a_lost_agent_with_a_live_kernel_is_warned_not_reported(caplog):
    bed = Bed()
    bed.lose_agent()
    for _ in range(30):              # a minute
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST
    [view] = [s for s in bed.fleet.snapshot() if s.uuid == A]
    assert view.label == 'agent lost, kernel alive'
    warnings = [r for r in caplog.records
                if 'agent gone, kernel alive' in r.getMessage()]
    assert len(warnings) == 1


def test_with_agent_loss_report_a_lost_agent_is_reported():
    bed = Bed(agent_loss=AgentLoss.REPORT)
    bed.lose_agent()
    bed.run(6)
    assert bed.reasons() == ['disconnected']


def test_a_lost_agent_then_a_dead_kernel_is_kernel_hung():
    # (Over SHUTDOWN_SPAN later: no wait for a reset, as for a guest going
    # down; test_heartbeat_combined covers a kernel dying sooner.)
    bed = Bed()
    bed.lose_agent()
    bed.run(20)
    assert bed.reports() == []
    bed.stamps[A] = int(bed.wall())
    bed.tick()
    bed.tick()
    assert bed.reasons() == ['kernel_hung']


def test_a_lost_agent_without_a_heartbeat_is_reported_as_today():
    bed = Bed()
    bed.period[A] = 0
    bed.fleet.watched[A].heartbeat.reset()
    bed.lose_agent()
    bed.run(6)
    assert bed.reasons() == ['disconnected']


def test_a_closed_port_for_another_reason_is_not_a_lost_agent():
    bed = Bed()
    bed.lose_agent(reason='domain started')
    assert bed.state().phase is not Phase.AGENT_LOST


def test_a_hung_agent_with_a_live_kernel_is_still_unresponsive():
    bed = Bed()
    bed.silent.add(A)                # port open, no answer: no event
    bed.run(6)
    assert bed.reasons() == ['unresponsive']


def test_a_lost_agent_that_comes_back_is_healthy():
    bed = Bed()
    bed.lose_agent()
    bed.tick()
    bed.closed.discard(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    bed.run(2)
    assert bed.state().phase is Phase.HEALTHY
    assert bed.reports() == []


def test_a_reboot_after_a_lost_agent_is_judged_as_a_boot():
    bed = Bed()
    bed.lose_agent()
    bed.event(A, EventKind.REBOOTED)
    assert bed.state().phase is Phase.GRACE


def test_the_check_warns_of_a_lost_agent():
    from masakari_introspect.cmd import check
    from masakari_introspect.core.status import InstanceStatus
    assert check.KIND[Phase.AGENT_LOST] is check.Kind.LOST
    lost = InstanceStatus(A, 'vm-a', Phase.AGENT_LOST)
    assert check.kind(lost) is check.Kind.LOST


# -- kdump -------------------------------------------------------------------------


def crash_loaded(bed, timeout=60.0, uuid=A):
    bed.fleet.policy = bed.policy = dataclasses.replace(
        bed.policy, kdump_timeout=timeout)
    # Each instance follows a policy of its own (issue 20).
    bed.fleet.watched[uuid].state.policy = bed.policy
    bed.event(uuid, EventKind.CRASH_LOADED)


def test_crash_loaded_then_silence_is_crashed_after_the_timeout():
    bed = Bed()
    crash_loaded(bed)
    bed.silent.add(A)                       # dump written, then silence
    bed.stamps[A] = int(bed.wall())
    assert bed.state().phase is Phase.KDUMP
    for _ in range(29):                     # 58 s
        bed.tick()
    assert bed.reports() == []
    bed.tick()
    bed.tick()
    assert bed.reasons() == ['crashed']


def test_a_guest_that_runs_on_after_crash_loaded_is_not_reported():
    bed = Bed()
    crash_loaded(bed)
    bed.run(40)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY
    assert bed.fleet.watched[A].kdump_since is None


def test_a_reset_after_the_dump_and_a_live_heartbeat_end_the_wait():
    bed = Bed()
    crash_loaded(bed)
    bed.silent.add(A)
    bed.stamps[A] = int(bed.wall())
    bed.run(5)
    bed.event(A, EventKind.REBOOTED)
    bed.silent.discard(A)
    bed.stamps[A] = None
    bed.run(40)
    assert bed.reports() == []


def test_crash_loaded_is_its_own_event_kind():
    from masakari_introspect.virt import translate
    assert translate.lifecycle(translate.CRASHED, 1) is \
        EventKind.CRASH_LOADED
    assert translate.lifecycle(translate.CRASHED, 0) is EventKind.CRASHED


def test_crash_loaded_then_agent_killed_and_balloon_removed_is_crashed():
    bed = Bed()
    crash_loaded(bed)
    for _ in range(3):                      # runs on a while
        bed.tick()
    bed.lose_agent()
    bed.stamps[A] = int(bed.wall())         # balloon driver removed
    bed.run(25)
    assert bed.reports() == []
    assert bed.state().phase is Phase.KDUMP
    bed.run(3)
    assert bed.reasons() == ['crashed']



# -- starvation ----------------------------------------------------------------------


def starve(bed, grace=120.0, uuid=A):
    bed.fleet.policy = bed.policy = dataclasses.replace(
        bed.policy, starvation_grace=grace)
    bed.fleet.watched[uuid].starvation.grace = grace
    bed.starved.add(uuid)
    bed.silent.add(uuid)                    # its pings time out
    bed.stamps[uuid] = int(bed.wall())      # its heartbeat falls behind


def test_a_starved_guest_is_not_reported_within_the_grace(caplog):
    bed = Bed()
    starve(bed)
    for _ in range(30):                     # 60 s
        bed.tick()
    assert bed.reports() == []
    warnings = [r for r in caplog.records
                if 'starved of CPU: its vCPU or QEMU main thread waited'
                in r.getMessage()]
    assert len(warnings) == 1
    [view] = [v for v in bed.fleet.snapshot() if v.uuid == A]
    assert view.starved_intervals >= 29


def test_starvation_that_ends_leaves_a_healthy_guest():
    bed = Bed()
    starve(bed)
    bed.run(10)
    bed.starved.discard(A)
    bed.silent.discard(A)
    bed.stamps[A] = None
    bed.run(5)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_starved_guest_is_judged_after_the_grace():
    bed = Bed()
    starve(bed, grace=20.0)
    bed.run(20)
    assert len(bed.reports()) == 1


def test_starvation_then_a_real_hang_is_reported():
    bed = Bed()
    starve(bed)
    bed.run(5)
    bed.starved.discard(A)                  # CPU back; the kernel is dead
    bed.run(5)
    assert bed.reasons() == ['kernel_hung']


def test_a_spinning_panicked_kernel_is_not_starved():
    bed = Bed()
    bed.kill_kernel()                       # runs its share: not starved
    bed.tick()
    bed.tick()
    assert bed.reasons() == ['kernel_hung']


def late_bulk_ticks(bed, ticks, vcpus=True):
    """Ticks while the bulk statistics call does not come back; the vCPU
    call answers each one (``vcpus``) or fails (None)."""
    for _ in range(ticks):
        bed.clock.advance(2)
        bed.wall.advance(2)
        bed.spend(2)
        sent = bed.do(bed.fleet.tick())
        bed.do(bed.fleet.vcpus_sampled(bed.vcpus() if vcpus else None))
        bed.answer(sent)


def test_a_panicked_kernel_is_not_shielded_while_the_bulk_call_is_late():
    # A panicked kernel spins and gets its CPU share: its vCPU figures,
    # on time, show no starvation, so its misses count while the bulk
    # call (the heartbeat) is late.
    bed = Bed()
    bed.kill_kernel()
    late_bulk_ticks(bed, 5)
    assert bed.reasons() == ['unresponsive']
    assert not bed.fleet.watched[A].starvation.shields(bed.clock())


def test_a_failed_vcpu_call_shields_nothing():
    # A silent guest whose vCPU figures cannot be read (the call fails
    # each interval, the bulk call is late) is judged on its misses.
    bed = Bed()
    starve(bed)
    late_bulk_ticks(bed, 5, vcpus=False)
    assert bed.reasons() == ['unresponsive']


def test_only_the_vcpu_call_feeds_the_starvation_rule():
    # Bulk samples alone (no vCPU call back) give no starved span.
    bed = Bed()
    starve(bed)
    for _ in range(3):
        bed.clock.advance(2)
        bed.wall.advance(2)
        bed.spend(2)
        bed.answer(bed.do(bed.fleet.tick()))
        bed.do(bed.fleet.sampled(bed.sample()))
    assert bed.fleet.watched[A].starvation.intervals == 0
    bed.tick()
    bed.tick()
    assert bed.fleet.watched[A].starvation.intervals >= 1


def test_a_late_vcpu_answer_is_dated_when_it_was_asked():
    # The vCPU call answers 0.1 s after one tick and 1.9 s after the next
    # (a busy libvirtd): its figures are of the time it was asked, so each
    # span is the 2 s interval, starved (1.8 s waited); dated by their
    # arrival the second span would be 3.8 s, not waited half of it.
    bed = Bed()
    starve(bed)
    before = 0.0
    for late in (0.1, 1.9, 0.1, 1.9):
        bed.clock.advance(2 - before)     # a tick every 2 s
        bed.wall.advance(2 - before)
        bed.spend(2)
        sent = bed.do(bed.fleet.tick())
        figures = bed.vcpus()             # read when asked
        bed.clock.advance(late)
        bed.wall.advance(late)
        bed.do(bed.fleet.vcpus_sampled(figures))
        bed.answer(sent)
        before = late
    assert bed.fleet.watched[A].starvation.intervals == 4


def test_each_tick_asks_for_the_vcpu_figures_once():
    # Each tick asks for both calls; the extra bulk samples that judge a
    # guest at once (a miss at the threshold) ask for no vCPU figures: a
    # span between vCPU samples is an interval.
    bed = Bed(threshold=2)
    bed.actions.clear()
    bed.silent.add(A)
    bed.run(4)
    kinds = [type(a) for a in bed.actions]
    assert kinds.count(f.SampleVcpus) == 4
    assert kinds.count(f.Sample) > 4


# -- which part died -------------------------------------------------------------------


def died(bed, uuid=A):
    return {v.uuid: v for v in bed.fleet.snapshot()}[uuid].died


def test_status_says_which_part_died():
    bed = Bed()
    assert died(bed) is None
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert died(bed) == 'kernel'
    lost = Bed()
    lost.lose_agent()
    lost.tick()
    assert died(lost) == 'userspace/agent'
    hung = Bed()
    hung.silent.add(A)
    hung.tick()
    hung.tick()
    assert died(hung) == 'userspace/agent'
    starved = Bed()
    starve(starved)
    starved.tick()
    starved.tick()
    assert died(starved) == 'none (starved)'


def test_the_json_status_carries_which_part_died():
    from masakari_introspect.ops import snapshot
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    view = {v.uuid: v for v in bed.fleet.snapshot()}[A]
    doc = snapshot.encode_instance(view)
    assert doc['died'] == 'kernel'
    assert snapshot._decode_instance(doc).died == 'kernel'


def test_one_span_with_a_burst_of_cpu_does_not_end_the_episode():
    bed = Bed()
    starve(bed)
    bed.run(5)
    bed.starved.discard(A)                  # one burst of CPU
    bed.tick()
    bed.starved.add(A)
    bed.run(10)
    assert bed.reports() == []


def test_a_starved_guest_without_statistics_is_not_judged_idle():
    # Its misses reached the threshold before the first starved span was
    # seen; the starved guest's QEMU holds the bulk statistics call, and a
    # whole interval without a sample does not judge it inactive meanwhile.
    bed = Bed(threshold=2)
    bed.silent.add(A)
    bed.tick()
    bed.clock.advance(INTERVAL)
    bed.wall.advance(INTERVAL)
    bed.answer(bed.do(bed.fleet.tick()))   # second miss: awaits a sample
    assert bed.state().awaiting_sample
    starve(bed)
    for _ in range(20):
        bed.clock.advance(INTERVAL)
        bed.wall.advance(INTERVAL)
        bed.spend()
        bed.do(bed.fleet.vcpus_sampled(bed.vcpus()))
        bed.answer(bed.do(bed.fleet.tick()))
    assert bed.reports() == []
