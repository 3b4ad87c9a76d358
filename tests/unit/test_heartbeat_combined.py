"""Where the heartbeat, kdump, agent-loss and maintenance rules meet."""

import dataclasses

import pytest

from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.fakes import domain
from tests.unit.fakes import make_fleet
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


@pytest.mark.xfail(strict=True, reason=(
    'kernel.judge takes "no agent answer since the next beat was due" from '
    'last_success alone: when the heartbeat goes stale on a sample handled '
    'before the answer to the probe sent at the same tick, and the last '
    'answer came before missed_since, an idle guest whose agent answers is '
    'reported kernel_hung (balloon driver unloaded between ticks)'))
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
    bed.run(3)
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
    assert bed.reasons(B) == ['unresponsive']
