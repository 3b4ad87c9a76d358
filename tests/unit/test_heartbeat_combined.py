"""Where the heartbeat, kdump, agent-loss and maintenance rules meet."""

import dataclasses

import pytest

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Unqueue
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.probing import STUCK_AFTER
from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.kernel import SHUTDOWN_SPAN
from masakari_introspect.core.kernel import SHUTDOWN_WAIT
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.fakes import domain
from tests.unit.fakes import make_fleet
from tests.unit.heartbeat_bed import INTERVAL
from tests.unit.heartbeat_bed import PERIOD
from tests.unit.heartbeat_bed import Bed


def test_a_kdump_wait_that_times_out_in_maintenance_is_not_reported():
    # A guest without a balloon (no heartbeat) dumps and reboots fine in
    # maintenance; it is not probed there, so kdump_timeout passes without
    # a sign of life: maintenance ending must not report it crashed.
    bed = Bed()
    bed.hidden.add(A)
    bed.period[A] = 0
    bed.maintenance(True)
    bed.event(A, EventKind.CRASH_LOADED)
    bed.event(A, EventKind.REBOOTED)
    for _ in range(int(bed.policy.kdump_timeout / bed.policy.probe_interval)
                   + 10):
        bed.tick()
    bed.maintenance(False)
    bed.run(5)
    assert bed.reports() == []


def test_a_kdump_wait_ending_just_after_maintenance_waits_for_a_probe():
    # Maintenance ends one interval before kdump_timeout: the guest gets
    # its first probe only then; it answers, and is not reported.
    bed = Bed()
    bed.hidden.add(A)
    bed.period[A] = 0
    bed.event(A, EventKind.CRASH_LOADED)
    bed.maintenance(True)
    bed.event(A, EventKind.REBOOTED)
    for _ in range(int(bed.policy.kdump_timeout / bed.policy.probe_interval)
                   - 1):
        bed.tick()
    bed.maintenance(False)
    bed.run(5)
    assert bed.reports() == []


def test_a_balloon_unloaded_between_ticks_is_not_a_dead_kernel():
    bed = Bed()
    # The driver is unloaded 1 s after this tick (its last stamp then);
    # the agent keeps answering, but each tick's sample is handled before
    # that tick's answer (as at scale, where probes queue for the budget).
    bed.stamps[A] = int(bed.wall()) + 1
    bed.run(6)
    assert bed.reports() == []


def test_a_balloon_unloaded_in_maintenance_is_not_a_dead_kernel_after_it():
    # The operator unloads the balloon driver while the instance is in
    # maintenance (its agent is fine, but not asked there): when
    # maintenance ends the live guest must not be reported kernel_hung.
    bed = Bed()
    bed.maintenance(True)
    bed.stamps[A] = int(bed.wall())
    bed.run(5)
    bed.maintenance(False)
    bed.run(5)
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_lost_agent_is_not_reported_after_a_restart_of_the_monitor():
    bed = Bed()
    bed.lose_agent()
    assert bed.state().phase is Phase.AGENT_LOST
    bed.run(3)
    # The restarted monitor gives the guest its boot grace, in which the
    # heartbeat is learned again and a probe finds the port still closed.
    policy = dataclasses.replace(bed.policy, boot_grace_period=30)
    bed.fleet = make_fleet(policy, bed.clock, bed.wall,
                           remembered=bed.fleet.persisted().records)
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=1, connected=False),
                             domain(B, 'vm-b', domain_id=2)]))
    bed.run(20)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_lost_agent_is_not_reported_after_a_pause_and_resume():
    # A pause (virsh suspend, an internal snapshot) and resume put the
    # instance in grace; its agent's port is still closed, its kernel
    # alive: still lost, not reported.
    bed = Bed()
    bed.lose_agent()
    bed.run(3)
    bed.event(A, EventKind.PAUSED, 'user')
    bed.tick()
    bed.event(A, EventKind.RESUMED)
    bed.run(20)
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_lost_agent_whose_kernel_dies_after_a_resume_is_kernel_hung():
    bed = Bed()
    bed.lose_agent()
    bed.event(A, EventKind.PAUSED, 'user')
    bed.event(A, EventKind.RESUMED)
    bed.run(20)                    # over SHUTDOWN_SPAN: not going down
    bed.kill_kernel()
    bed.run(4)
    assert bed.reasons() == ['kernel_hung']


def test_a_busy_guest_whose_heartbeat_stops_mid_interval_is_not_kernel_hung():
    # The balloon driver is unloaded 1 s after a tick while the guest
    # writes to disk in every interval and its agent hangs: the span that
    # went stale covers its next beat and its work; it is not a dead
    # kernel while it works.
    bed = Bed(threshold=20)
    bed.silent.add(A)
    bed.stamps[A] = int(bed.wall()) + 1
    for _ in range(6):
        bed.work[A] += 5
        bed.tick()
    assert bed.reports() == []


def test_a_busy_guest_whose_kernel_dies_is_kernel_hung_once_it_stops():
    bed = Bed(threshold=20)
    bed.work[A] += 5
    bed.kill_kernel()
    bed.stamps[A] += 1     # its last beat 1 s after the tick
    bed.tick()             # the span of its death shows work
    bed.run(3)
    assert bed.reasons() == ['kernel_hung']


def test_a_slow_statistics_call_soon_after_the_last_does_not_age_stamps():
    # B's agent misses its last allowed interval: its result asks for a
    # sample at once, right after the tick's. That bulk call reads every
    # stamp half a second later, but one starved QEMU holds it for 9 s: the
    # unchanged stamps are not 10 s old, A is no dead kernel.
    bed = Bed(threshold=1)
    bed.silent.add(B)
    bed.tick()                           # B's miss asks for a sample
    bed.clock.advance(0.5)
    bed.wall.advance(0.5)
    sample = bed.sample()
    bed.clock.advance(9)
    bed.wall.advance(9)
    bed.do(bed.fleet.sampled(sample))
    assert bed.reports() == []
    assert [r.reason for r in bed.reports(B)] == ['unresponsive']


def _tick_answer_later(bed):
    """A tick whose sample is handled before its probes' answers; the
    probes sent, for the test to answer."""
    bed.clock.advance(2)
    bed.wall.advance(2)
    sent = bed.do(bed.fleet.tick())
    bed.do(bed.fleet.sampled(bed.sample()))
    return sent


def test_a_dead_kernel_waits_for_the_probe_sent_since_then_is_kernel_hung():
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.stamps[A] += 1             # its last beat 1 s after this tick
    bed.answer(_tick_answer_later(bed))        # age 2: not yet stale
    sent = _tick_answer_later(bed)             # stale; A's probe still out
    assert bed.reports() == []
    assert bed.fleet.watched[A].kernel_waits is not None
    bed.answer(sent)                           # ... comes back a miss
    assert [r.reason for r in bed.reports()] == ['kernel_hung']


def test_a_dead_kernel_whose_awaited_probe_is_stuck_is_kernel_hung():
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.stamps[A] += 1
    bed.answer(_tick_answer_later(bed))
    [probe] = [a for a in _tick_answer_later(bed)     # stale; probe out
               if isinstance(a, Probe) and a.uuid == A]
    bed.do(bed.fleet.started(A, probe.token))         # inside libvirt
    assert bed.reports() == []
    bed.clock.advance(bed.fleet.settings.probe_timeout + STUCK_AFTER + 0.1)
    bed.do(bed.fleet.overdue())
    assert [r.reason for r in bed.reports()] == ['kernel_hung']
    assert bed.fleet.watched[A].token is None   # not waited for any more


def test_an_awaited_probe_answered_clears_the_wait():
    bed = Bed(threshold=10)
    bed.stamps[A] = int(bed.wall()) + 1        # balloon unloaded
    bed.answer(_tick_answer_later(bed))
    sent = _tick_answer_later(bed)
    assert bed.fleet.watched[A].kernel_waits is not None
    bed.answer(sent)
    assert bed.fleet.watched[A].kernel_waits is None
    for _ in range(4):
        bed.tick()
    assert bed.reports() == []


def _restart(bed, policy):
    bed.fleet = make_fleet(policy, bed.clock, bed.wall,
                           remembered=bed.fleet.persisted().records)
    bed.do(bed.fleet.listed([domain(A, 'vm-a', domain_id=1, connected=False),
                             domain(B, 'vm-b', domain_id=2)]))


def test_a_lost_agent_is_not_reported_after_a_restart_without_grace():
    # No boot grace after the restart: the closed port's answers come
    # before the heartbeat is learned again; they are not misses until it
    # is known whether the kernel lives.
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(3):
        bed.tick()
    _restart(bed, bed.policy)
    for _ in range(20):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_closed_port_before_the_first_sample_after_a_restart_waits():
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    _restart(bed, bed.policy)
    for _ in range(5):        # probes answered before any sample
        bed.clock.advance(2)
        bed.wall.advance(2)
        bed.answer(bed.do(bed.fleet.tick()))
    assert bed.state().misses == 0
    assert bed.reports() == []


def test_a_lost_agent_whose_kernel_died_during_a_restart_is_reported():
    # The kernel died while the monitor was down: its stamp never moves
    # again, so it is not learned live, and the closed port counts after
    # 2 x period + 1 s, as without a heartbeat.
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    bed.kill_kernel()
    _restart(bed, bed.policy)
    for _ in range(10):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['disconnected']


def test_a_closed_port_of_a_guest_without_a_balloon_counts_after_a_restart():
    bed = Bed()
    bed.closed.add(A)
    bed.hidden.add(A)
    _restart(bed, bed.policy)
    for _ in range(10):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['disconnected']


def test_no_wait_when_a_probe_sent_since_came_back_without_an_answer():
    # A probe sent after the beat was due came back a miss before the
    # sample that sees the heartbeat stale: the next probe out is not
    # waited for (the agent had its chance).
    bed = Bed(threshold=10)
    bed.kill_kernel()                # last beat now: next due in 2 s
    bed.clock.advance(2.5)
    bed.wall.advance(2.5)
    watched = bed.fleet.watched[A]
    bed.answer([bed.fleet._probe(watched)])   # sent since: a miss
    bed.clock.advance(2)
    bed.wall.advance(2)
    bed.do(bed.fleet.tick())
    assert watched.token is not None          # the tick's probe is out
    bed.do(bed.fleet.sampled(bed.sample()))
    assert [r.reason for r in bed.reports()] == ['kernel_hung']


def test_a_queued_probe_is_waited_for_no_longer_than_the_timeout():
    # At scale dead kernels' probes queue for the worker budget: the
    # verdict does not wait for a probe still queued after the timeout.
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.stamps[A] += 1
    bed.answer(_tick_answer_later(bed))
    _tick_answer_later(bed)                    # stale; A's probe queued
    bed.clock.advance(bed.fleet.settings.probe_timeout - 0.5)
    bed.do(bed.fleet.overdue())
    assert bed.reports() == []
    bed.clock.advance(0.5)
    bed.do(bed.fleet.overdue())
    assert [r.reason for r in bed.reports()] == ['kernel_hung']
    assert bed.fleet.watched[A].token is None


def test_a_dead_kernel_verdict_drops_its_queued_probe():
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.tick()                                 # age 2: its miss is back
    bed.clock.advance(2)
    bed.wall.advance(2)
    bed.do(bed.fleet.sampled(bed.sample()))    # a sample asked for alone
    assert [r.reason for r in bed.reports()] == ['kernel_hung']
    assert Unqueue(A) in bed.actions


def test_a_starved_guest_whose_statistics_come_late_is_not_reported():
    # Starvation delays the bulk statistics call (measured: ~9 s on the
    # bed) past the failure window: ticks go by without a bulk sample while
    # the starved guest's pings miss. The vCPU figures come from a call of
    # their own that does not wait for QEMU: it answers every interval, so
    # the starved spans are seen in time. (Before the vCPU call had its own
    # call, they came with the late bulk sample: reported.)
    from tests.unit.test_heartbeat import starve
    bed = Bed()
    starve(bed)
    for _ in range(5):                  # 10 s, the bulk sample not back
        bed.clock.advance(2)
        bed.wall.advance(2)
        bed.spend(2)
        sent = bed.do(bed.fleet.tick())
        bed.do(bed.fleet.vcpus_sampled(bed.vcpus()))
        bed.answer(sent)
    assert bed.reports() == []
    bed.do(bed.fleet.sampled(bed.sample()))      # the late bulk sample
    for _ in range(10):
        bed.tick()
    assert bed.reports() == []


def _reboot_from_inside(bed, gap_ticks):
    """The agent closes its port at shutdown (channel); a tick later the
    kernel stops stamping; ``gap_ticks`` intervals later the reset
    (REBOOTED) comes."""
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    bed.tick()
    bed.stamps[A] = int(bed.wall())        # devices shut down
    for _ in range(gap_ticks):
        bed.tick()


@pytest.mark.parametrize('agent_loss', [AgentLoss.WARN, AgentLoss.REPORT])
def test_a_reboot_from_inside_with_a_slow_reset_is_not_kernel_hung(
        agent_loss):
    # On a loaded host the reset event comes more than 2 x period + 1 s
    # after the last stamp (a functional run saw it): the agent closed its
    # port cleanly moments before, so the guest is going down, not dead.
    bed = Bed(threshold=10, agent_loss=agent_loss)
    _reboot_from_inside(bed, 3)             # 6 s > 2 x 1 + 1 s
    assert bed.reports() == []
    bed.event(A, EventKind.REBOOTED)
    bed.stamps[A] = None
    bed.closed.discard(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_shutdown_from_inside_with_a_slow_stop_is_not_reported():
    bed = Bed(threshold=10)
    _reboot_from_inside(bed, 3)
    bed.do(bed.fleet.event(DomainEvent(A, 'vm', EventKind.STOPPED,
                                         'shutdown')))
    assert bed.reports() == []
    assert A not in bed.fleet.watched


def test_a_guest_going_down_that_never_resets_is_kernel_hung_in_bound():
    # The kernel died during shutdown: reported once the bounded wait for
    # the reset is over, no later.
    bed = Bed(threshold=10)
    stale = stale_after(PERIOD)
    ticks = int((stale + SHUTDOWN_WAIT) / INTERVAL) + 2
    _reboot_from_inside(bed, ticks)
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'


def test_a_lost_agent_long_before_the_kernel_dies_gets_no_shutdown_wait():
    bed = Bed(threshold=10)
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(int(SHUTDOWN_SPAN / INTERVAL) + 2):
        bed.tick()
    bed.kill_kernel()
    bed.tick()
    bed.tick()                      # age 4 >= 3: stale
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'


def test_an_answer_inside_libvirt_at_the_verdict_withdraws_the_report():
    # A probe sent after the beat was due came back a miss (the agent was
    # slow once), so the verdict does not wait for the next one, already
    # inside libvirt; that one answers: the kernel lived after its last
    # stamp (the balloon driver was unloaded), and the report is withdrawn.
    bed = Bed(threshold=10)
    bed.stamps[A] = int(bed.wall())            # balloon driver unloaded
    bed.clock.advance(2.5)
    bed.wall.advance(2.5)
    watched = bed.fleet.watched[A]
    bed.do(bed.fleet.result(ProbeResult(A, Outcome.MISS),
                            bed.fleet._probe(watched).token))
    bed.clock.advance(2)
    bed.wall.advance(2)
    [probe] = [a for a in bed.do(bed.fleet.tick())
               if isinstance(a, Probe) and a.uuid == A]
    bed.do(bed.fleet.started(A, probe.token))  # inside libvirt
    bed.do(bed.fleet.sampled(bed.sample()))
    assert [r.reason for r in bed.reports()] == ['kernel_hung']
    bed.do(bed.fleet.result(ProbeResult(A, Outcome.OK), probe.token))
    assert [a for a in bed.actions if isinstance(a, Withdraw)
            and a.uuid == A]
    assert bed.state().phase is Phase.HEALTHY
    for _ in range(5):
        bed.tick()
    assert len(bed.reports()) == 1


def test_a_lost_agent_found_busy_after_a_restart_is_not_reported():
    # After a restart the first probes find the domain busy (a job holds
    # it and hides the balloon fields): the guest leaves grace, failing,
    # before the heartbeat is learned. Once the job ends and the heartbeat
    # is live, the closed port is a lost agent, not a miss.
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(3):
        bed.tick()
    bed.hidden.add(A)
    _restart(bed, bed.policy)
    answer = bed.answer

    def busy(actions):
        for probe in [a for a in actions if isinstance(a, Probe)]:
            outcome = Outcome.BUSY if probe.uuid == A else Outcome.OK
            bed.do(bed.fleet.result(ProbeResult(probe.uuid, outcome),
                                    probe.token))
    bed.answer = busy
    for _ in range(2):
        bed.tick()
    bed.hidden.discard(A)
    bed.answer = answer
    for _ in range(10):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST


def test_a_heartbeat_turned_off_while_its_verdict_waits_makes_no_verdict():
    # A reload (or Nova metadata) turns kernel_heartbeat off while a stale
    # heartbeat's verdict waits for a probe: the probe's miss is a miss,
    # not a dead kernel.
    from masakari_introspect.core import assign
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.stamps[A] += 1
    bed.answer(_tick_answer_later(bed))
    sent = _tick_answer_later(bed)
    watched = bed.fleet.watched[A]
    assert watched.kernel_waits is not None
    assign.assign(watched, dataclasses.replace(
        watched.state.policy, kernel_heartbeat=False), bed.clock())
    bed.answer(sent)
    assert bed.reports() == []
