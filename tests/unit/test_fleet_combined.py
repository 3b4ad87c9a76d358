"""Where two rules meet: combinations that once broke the verdicts."""

from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.model import Activity
from tests.unit.fakes import A, B, domain
import pytest

from tests.unit.fleet_bed import Bed, hang, idle, one_guest, two_guests


@pytest.fixture
def bed():
    return two_guests()


def test_alternating_jobs_and_misses_cannot_shield_a_dead_guest():
    """Short jobs one after another (a backup tool, one per disk), the
    agent dead between them: job_grace_max bounds them all together."""
    b = one_guest(job_grace_max=40)
    for i in range(30):
        b.tick(idle(B))
        b.answer(B, Outcome.JOB if i % 2 else Outcome.MISS, 'x')
    assert [n.reason for n in b.reports()] == ['unresponsive']


def test_maintenance_toggled_around_a_crash_reports_once(bed):
    bed.fleet.set_maintenance(B, True)
    bed.event(B, EventKind.CRASHED, 'panicked')
    bed.maintenance(B, False)
    bed.maintenance(B, True)
    bed.maintenance(B, False)
    bed.idle_intervals(5, answering=(A,))
    assert [n.reason for n in bed.reports()] == ['crashed']


def test_maintenance_then_restart_then_off_reports_a_failure_pause(bed):
    bed.maintenance(B, True)
    bed.event(B, EventKind.PAUSED, 'ioerror')
    bed.idle_intervals(5, answering=(A,))
    assert bed.reports() == []
    saved = bed.fleet.persisted()
    b2 = Bed(clock=bed.clock, wall=bed.wall)
    b2.fleet = Fleet(b2.policy, bed.fleet.settings,
                     remembered=saved.records, maintenance=saved.maintenance,
                     clock=b2.clock, wall=b2.wall)
    b2.listed(domain(A, 'vm-a'),
              domain(B, 'vm-b', running=False, reason='ioerror',
                     domain_id=2))
    b2.idle_intervals(5, answering=(A,))
    assert b2.reports() == []
    b2.maintenance(B, False)
    b2.idle_intervals(5, answering=(A,))
    assert [n.reason for n in b2.reports()] == ['failure_pause']


def test_a_report_survives_a_restart_and_is_never_repeated(bed):
    hang(bed, B, 3)
    assert len(bed.reports(B)) == 1
    saved = bed.fleet.persisted()
    b2 = Bed(remembered=saved.records, clock=bed.clock, wall=bed.wall)
    b2.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    for _ in range(20):
        b2.tick(idle(A, B))
        b2.time_out(B)
        if b2.fleet.watched[A].token is not None:
            b2.answer(A)
    assert b2.reports() == []


def test_a_reboot_while_awaiting_the_sample_reports_nothing(bed):
    for _ in range(4):
        bed.tick()
        bed.time_out(B)
        bed.answer(A)
    assert bed.fleet.watched[B].state.awaiting_sample
    bed.event(B, EventKind.REBOOTED)
    bed.do(bed.fleet.sampled(idle(A, B)))
    assert bed.reports() == []


def test_agent_errors_between_misses_keep_a_live_guest(bed):
    for i in range(12):
        bed.tick(idle(A, B))
        bed.answer(A)
        bed.answer(B, Outcome.AGENT_ERROR if i % 2 else Outcome.MISS, 'x')
    assert bed.reports() == []


def test_a_never_answering_guest_with_the_option_off_is_not_reported():
    b = Bed(grace=30)
    b.listed(domain(B, connected=False))
    b.without_agent(B, 20)
    assert b.reports() == []


def test_a_never_answering_guest_with_the_option_on_is_reported_once():
    b = Bed(grace=30, never=True)
    b.listed(domain(B, connected=False))
    b.without_agent(B, 20)
    assert len(b.reports()) == 1


def test_undefine_then_a_hang_is_reported_once(bed):
    bed.event(B, EventKind.UNDEFINED)
    hang(bed, B, 3)
    assert len(bed.reports(B)) == 1


def test_a_guest_without_counters_is_reported(bed):
    for _ in range(5):
        bed.tick([Activity(A, 0, 0)])
        bed.answer(A)
        bed.time_out(B)
    assert [n.reason for n in bed.reports()] == ['unresponsive']


def test_every_change_of_what_is_remembered_asks_for_a_save(bed):
    bed.fleet.persisted()
    hang(bed, B, 3)
    rec = bed.fleet.records()
    assert rec[B].reported
    saves = bed.of(Save)
    assert saves


def test_a_known_guest_booting_stops_working_then_answers_late():
    b = Bed(grace=30, remembered={B: Remembered(-1, False, False,
                                                known=True)})
    b.listed(domain(B, connected=False, domain_id=7))
    disk = 0
    disk = b.without_agent(B, 6, disk, step=50)
    b.tick(idle(B, disk=disk))
    b.answer(B)
    assert b.reports() == []
    hang(b, B, 3, others=(B,))
    assert [n.reason for n in b.reports()] == ['unresponsive']


def test_a_report_withdrawn_for_maintenance_is_made_again_after_it(bed):
    """The report was still pending when the operator put the instance in
    maintenance (withdrawn); the guest is still hung when it ends."""
    hang(bed, B, 3)
    assert len(bed.reports(B)) == 1
    uuid, actions = bed.fleet.set_maintenance(B, True)
    bed.do(actions)
    [withdraw] = [a for a in actions if isinstance(a, Withdraw)]
    bed.do(bed.fleet.withdrawn(withdraw))          # it was pending
    assert bed.of(Save)[-1] == Save()
    assert not bed.fleet.records()[B].reported
    bed.maintenance(B, False)
    hang(bed, B, 3)
    assert [n.reason for n in bed.reports(B)] == ['unresponsive'] * 2


def test_a_crash_withdrawn_for_maintenance_is_reported_when_it_ends(bed):
    bed.event(B, EventKind.CRASHED, 'panicked')
    assert len(bed.reports(B)) == 1
    _uuid, actions = bed.fleet.set_maintenance(B, True)
    [withdraw] = [a for a in actions if isinstance(a, Withdraw)]
    bed.do(bed.fleet.withdrawn(withdraw))
    bed.tick(idle(A, B))
    bed.answer(A)
    assert len(bed.reports(B)) == 1
    bed.maintenance(B, False)
    assert [n.reason for n in bed.reports(B)] == ['crashed'] * 2


def test_a_delivered_report_is_not_repeated_after_maintenance(bed):
    hang(bed, B, 3)
    bed.maintenance(B, True)   # nothing was pending
    bed.maintenance(B, False)
    hang(bed, B, 6)
    assert len(bed.reports(B)) == 1


def test_a_failed_statistics_call_does_not_judge_a_working_guest(bed):
    """The agent hangs in a guest that keeps writing; the statistics call
    fails right when the threshold is reached (libvirtd busy)."""
    disk = 0
    for _ in range(10):
        bed.tick()
        bed.time_out(B)
        bed.answer(A)
        bed.do(bed.fleet.overdue())
        if bed.fleet.watched[B].state.awaiting_sample:
            break
        disk += 100
        bed.do(bed.fleet.sampled(idle(A, B, disk=disk)))
    assert bed.fleet.watched[B].state.awaiting_sample
    bed.do(bed.fleet.sampled(None))  # due now, and cannot be taken
    disk += 100
    bed.do(bed.fleet.sampled(idle(A, B, disk=disk)))
    assert bed.reports() == []
    assert bed.state(B)['state'] == 'agent failed, guest active'


def active_hang(bed):
    """B's agent hangs while B keeps writing: judged active."""
    disk = 0
    for _ in range(6):
        disk += 100
        bed.tick(idle(A, B, disk=disk))
        bed.time_out(B)
        bed.answer(A)
    assert bed.state(B)['state'] == 'agent failed, guest active'
    return disk


def test_a_stalled_owner_thread_does_not_report_a_working_guest(bed):
    """The owner thread stalls (slow fsync, host suspended) longer than a
    failure window: no sample was taken meanwhile, so no evidence of
    idleness; the late tick must not report the working guest."""
    disk = active_hang(bed)
    bed.clock.advance(45)
    bed.wall.advance(45)
    disk += 100
    bed.tick(idle(A, B, disk=disk))
    bed.answer(A)
    assert bed.reports() == []


def test_after_a_stall_a_sample_without_work_still_reports(bed):
    disk = active_hang(bed)
    bed.clock.advance(45)
    bed.wall.advance(45)
    bed.tick(idle(A, B, disk=disk))
    bed.answer(A)
    assert [n.reason for n in bed.reports()] == ['inactive']


def test_a_hung_statistics_call_still_cannot_shield_a_hang(bed):
    active_hang(bed)
    for _ in range(4):               # ticks on time, no sample comes back
        bed.tick()
        bed.answer(A)
    assert [n.reason for n in bed.reports()] == ['inactive']


def booting_active(grace=30):
    """A known guest booting with its agent silent, while it works."""
    b = Bed(grace=grace, remembered={B: Remembered(-1, False, False,
                                                   known=True)})
    b.listed(domain(B, connected=False, domain_id=7))
    disk = 0
    disk = b.without_agent(B, 6, disk, step=50)
    assert b.state(B)['state'] == 'agent failed, guest active'
    return b, disk


def silent(b, intervals, disk):
    for _ in range(intervals):
        b.tick(idle(B, disk=disk))
        if b.fleet.watched[B].token is not None:
            b.answer(B, Outcome.DISCONNECTED, 'not connected')


def test_a_booting_guest_after_maintenance_is_still_judged():
    b, disk = booting_active()
    b.maintenance(B, True)
    b.maintenance(B, False)
    silent(b, 12, disk)                  # no work, no agent
    assert [n.reason for n in b.reports()] == ['boot_hang']


def test_a_booting_guest_paused_and_resumed_is_still_judged():
    b, disk = booting_active()
    b.event(B, EventKind.PAUSED, 'user')
    b.event(B, EventKind.RESUMED)
    silent(b, 12, disk)
    assert [n.reason for n in b.reports()] == ['boot_hang']


def test_time_in_maintenance_does_not_use_up_the_job_allowance():
    b = one_guest(job_grace_max=40, threshold=1)
    b.tick(idle(B))
    b.answer(B, Outcome.JOB)
    b.maintenance(B, True)
    b.idle_intervals(10, guests=(B,))
    b.maintenance(B, False)
    b.tick(idle(B))
    b.answer(B, Outcome.JOB)                 # a new job: shielded
    b.do(b.fleet.sampled(idle(B)))
    assert b.reports() == []


def test_a_job_that_ends_with_a_resume_leaves_a_full_allowance():
    b = one_guest(job_grace_max=40, threshold=1)
    b.tick(idle(B))
    b.answer(B, Outcome.JOB)
    b.event(B, EventKind.PAUSED, 'dump')
    b.idle_intervals(6, guests=(B,))
    b.event(B, EventKind.RESUMED)
    b.tick(idle(B))
    b.answer(B, Outcome.JOB)                 # another job, right after
    b.do(b.fleet.sampled(idle(B)))
    assert b.reports() == []


def test_a_crash_with_a_crash_kernel_loaded_is_not_reported_at_once(bed):
    """pvpanic's crashloaded (virt/translate.py: its own event kind): kdump
    runs and the guest reboots by itself; nothing is reported while the dump
    is written and the agent is silent (core/kdump.py has the timeout)."""
    bed.event(B, EventKind.CRASH_LOADED, 'crashloaded')
    assert bed.reports() == []
    disk = 0
    for _ in range(5):                   # the dump is written
        disk += 500
        bed.tick(idle(A, B, disk=disk))
        bed.answer(A)
        bed.time_out(B)
    assert bed.reports() == []
    hang(bed, B, 6, disk=disk)           # silent, but within kdump_timeout
    assert bed.reports() == []


def test_a_job_after_a_report_reports_nothing_more(bed):
    hang(bed, B, 3)
    for _ in range(6):
        bed.tick(idle(A, B))
        bed.answer(A)
        if bed.fleet.watched[B].token is not None:
            bed.answer(B, Outcome.JOB)
    assert len(bed.reports(B)) == 1
    bed.tick(idle(A, B))
    bed.answer(B)
    assert bed.state(B)['state'] == 'healthy'


def test_ticks_queued_behind_a_stall_count_one_miss(bed):
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.time_out(B)                       # one missed interval
    bed.clock.advance(30)                 # the owner thread stalls
    for _ in range(3):                    # three ticks handled at once
        bed.do(bed.fleet.tick())
        bed.clock.advance(0.001)
    assert bed.fleet.watched[B].state.misses <= 2
    assert bed.reports() == []
