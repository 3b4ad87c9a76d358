"""The per-instance state machine, pure: events and results in, verdicts out."""

import pytest

from masakari_introspect.core import misses
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import Reason
from masakari_introspect.core.tracker import InstanceState
from masakari_introspect.core.model import Phase
from masakari_introspect.core.tracker import Policy
from masakari_introspect.core.model import Verdict

UUID = '00000000-0000-0000-0000-00000000000a'


def make(threshold=3, grace=0.0, activity=False, never=False, **kwargs):
    policy = Policy(failure_threshold=threshold, boot_grace_period=grace,
                    probe_interval=10, activity_check=activity,
                    report_agent_never_answered=never)
    return InstanceState(UUID, 'vm', policy, 0.0, **kwargs)


def healthy(**kwargs):
    state = make(**kwargs)
    state.success(0.0)
    misses.interval_end(state, 10.0, outstanding=False)
    return state


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError):
        Policy(failure_threshold=0)
    with pytest.raises(ValueError):
        Policy(boot_grace_period=-1)
    assert Policy(failure_threshold=3, probe_interval=5).window == 15


def test_one_miss_per_interval_however_many_calls_fail():
    state = healthy()
    assert misses.miss(state, 11, Reason.UNRESPONSIVE) is Verdict.NONE
    assert misses.miss(state, 12, Reason.UNRESPONSIVE) is Verdict.NONE
    assert misses.interval_end(state, 20, outstanding=True) is Verdict.NONE
    assert state.misses == 1


def test_threshold_missed_intervals_report_once():
    state = healthy()
    verdicts = [misses.interval_end(state, 10.0 * i, outstanding=True)
                for i in range(2, 8)]
    assert verdicts.count(Verdict.REPORT) == 1
    assert verdicts.index(Verdict.REPORT) == 2
    assert state.phase is Phase.FAILED
    assert state.reason is Reason.UNRESPONSIVE


def test_an_answer_in_the_interval_saves_it():
    state = healthy()
    misses.miss(state, 11, Reason.BUSY)
    state.success(12)
    assert misses.interval_end(state, 20, outstanding=True) is Verdict.NONE
    assert state.misses == 0


def test_with_activity_the_threshold_waits_for_the_sample():
    state = healthy(activity=True)
    state.activity(10, active=False)
    for i in range(2, 5):
        assert misses.interval_end(state, 10.0 * i, outstanding=True) \
            is Verdict.NONE
    assert state.awaiting_sample
    state.activity(41, active=True)      # worked in 10-41: after 10
    assert misses.judge(state, 41) is Verdict.ACTIVE
    assert state.phase is Phase.ACTIVE
    state.activity(51, active=False)
    assert misses.judge(state, 51) is Verdict.NONE
    assert misses.judge(state, 72) is Verdict.REPORT
    assert state.reason is Reason.INACTIVE


def test_activity_before_the_first_miss_does_not_count():
    state = healthy(activity=True)
    state.activity(9, active=True)      # the first missed interval: 10-20
    for i in range(2, 5):
        misses.interval_end(state, 10.0 * i, outstanding=True)
    assert misses.judge(state, 41) is Verdict.REPORT


def test_grace_keeps_misses_from_counting():
    state = make(grace=30)
    for t in (5, 15, 25):
        assert misses.miss(state, t, Reason.DISCONNECTED) is Verdict.NONE
    assert state.misses == 0


def test_never_answered_warns_once_and_is_not_reported():
    state = make(grace=30)
    assert misses.miss(state, 31, Reason.DISCONNECTED) is Verdict.NEVER_ANSWERED
    assert misses.miss(state, 41, Reason.DISCONNECTED) is Verdict.NONE
    assert state.phase is Phase.NO_AGENT


def test_never_answered_counts_when_the_policy_says_so():
    state = make(grace=30, never=True, threshold=2)
    assert misses.miss(state, 31, Reason.DISCONNECTED) is Verdict.NEVER_ANSWERED
    misses.interval_end(state, 40, outstanding=False)
    assert misses.miss(state, 41, Reason.DISCONNECTED) is Verdict.REPORT


def test_a_known_agent_that_never_comes_up_is_a_boot_hang():
    state = make(grace=30, known=True)
    assert misses.miss(state, 31, Reason.DISCONNECTED) is Verdict.REPORT
    assert state.reason is Reason.BOOT_HANG
    assert misses.miss(state, 41, Reason.DISCONNECTED) is Verdict.NONE


def test_a_report_stands_across_pause_and_resume_until_an_answer():
    state = healthy()
    for i in range(2, 5):
        misses.interval_end(state, 10.0 * i, outstanding=True)
    state.paused(45, PauseReason.USER)
    state.resumed(50)
    assert state.phase is Phase.FAILED
    assert state.success(51) is Verdict.RECOVERED


def test_failure_pause_then_resume_is_not_a_failure():
    state = healthy()
    state.paused(11, PauseReason.IOERROR)
    assert misses.interval_end(state, 20, outstanding=False) is Verdict.NONE
    state.resumed(25)
    assert misses.interval_end(state, 60, outstanding=False) is Verdict.NONE
    assert not state.reported


def test_maintenance_silences_and_ends_with_a_fresh_grace():
    state = healthy(grace=30)
    state.set_maintenance(True, 11)
    assert not state.probed
    for i in range(2, 8):
        assert misses.interval_end(state, 10.0 * i, outstanding=True) \
            is Verdict.NONE
    state.set_maintenance(False, 80)
    assert state.phase is Phase.GRACE
    assert state.grace_until == 110


def test_a_reboot_without_the_agent_is_a_boot_hang_of_a_known_guest():
    state = healthy(grace=30)
    state.rebooted(20)
    assert not state.answered
    assert misses.miss(state, 40, Reason.DISCONNECTED) is Verdict.NONE   # in grace
    assert misses.miss(state, 51, Reason.DISCONNECTED) is Verdict.REPORT
    assert state.reason is Reason.BOOT_HANG


def test_a_reboot_whose_agent_answers_is_fine():
    state = healthy(grace=30)
    state.rebooted(20)
    assert state.success(25) is Verdict.NONE
    assert state.phase is Phase.HEALTHY


# -- boot hangs judged on evidence ------------------------------------------------


def boot_hang(active, threshold=3):
    """A known guest restarts (grace 30 s) and its agent stays silent; a
    sample every 10 s, the guest working in it or not (``active(t)``)."""
    state = make(grace=30, activity=True, known=True, threshold=threshold)
    verdicts = []
    for t in range(10, 200, 10):
        state.activity(t, active(t))
        if state.awaiting_sample or state.phase is Phase.ACTIVE:
            verdicts.append((t, misses.judge(state, t)))
        verdicts.append((t, misses.miss(state, t + 1, Reason.DISCONNECTED)))
        verdicts.append((t, misses.interval_end(state, t + 9.5, outstanding=False)))
        if Verdict.REPORT in [v for _t, v in verdicts]:
            break
    return state, [(t, v) for t, v in verdicts if v is not Verdict.NONE]


def test_a_silent_known_guest_that_works_is_not_a_boot_hang_until_it_idles():
    state, verdicts = boot_hang(lambda t: t < 120)
    assert verdicts[0] == (30, Verdict.ACTIVE)     # once, at the grace end
    assert [v for _t, v in verdicts].count(Verdict.ACTIVE) == 1
    assert state.booting
    [when] = [t for t, v in verdicts if v is Verdict.REPORT]
    assert 140 <= when <= 150                      # a window after 110-120
    assert state.reason is Reason.BOOT_HANG


def test_a_silent_known_guest_that_idles_is_a_boot_hang_at_the_grace_end():
    state, verdicts = boot_hang(lambda t: False)
    assert verdicts == [(30, Verdict.REPORT)]
    assert state.reason is Reason.BOOT_HANG


def test_a_boot_that_worked_long_ago_only_is_a_boot_hang():
    # Work in the first seconds of the boot, none in the last window.
    _state, verdicts = boot_hang(lambda t: t <= 10)
    assert verdicts == [(30, Verdict.REPORT)]


def test_a_reboot_with_activity_is_judged_like_a_boot():
    state = healthy(grace=30, activity=True)
    state.rebooted(20)
    for t in (30, 40, 50):
        state.activity(t, True)
        misses.miss(state, t + 1, Reason.DISCONNECTED)
    state.activity(60, True)
    assert misses.judge(state, 60) is Verdict.ACTIVE       # grace ended at 50
    assert state.phase is Phase.ACTIVE
    assert state.booting_for(60) == 40
    assert state.success(61) is Verdict.RECOVERED  # the agent came up
    assert not state.booting


# -- maintenance: never reported, for any reason ----------------------------------


@pytest.mark.parametrize('fault,reason', [
    (InstanceState.crashed, Reason.CRASHED),
    (InstanceState.watchdog_fired, Reason.WATCHDOG)])
def test_a_failure_in_maintenance_is_held_and_reported_when_it_ends(
        fault, reason):
    state = healthy()
    state.set_maintenance(True, 11)
    assert fault(state) is Verdict.HELD
    assert fault(state) is Verdict.NONE            # said once
    assert state.reason is reason and not state.reported
    assert state.set_maintenance(False, 50) is Verdict.REPORT
    assert state.reason is reason
    assert state.set_maintenance(True, 60) is Verdict.NONE
    assert state.set_maintenance(False, 70) is Verdict.NONE   # once


def test_a_failure_pause_in_maintenance_is_held_then_reported_once():
    state = healthy()
    state.set_maintenance(True, 11)
    state.watchdog_fired()
    state.paused(12, PauseReason.WATCHDOG)
    verdicts = [misses.interval_end(state, 10.0 * i, outstanding=False)
                for i in range(2, 10)]
    assert Verdict.REPORT not in verdicts
    assert state.set_maintenance(False, 100) is Verdict.REPORT
    assert [misses.interval_end(state, 10.0 * i, outstanding=False)
            for i in range(11, 15)] == [Verdict.NONE] * 4


def test_a_failure_pause_held_in_maintenance_counts_when_it_ends():
    state = healthy()
    state.set_maintenance(True, 11)
    state.paused(12, PauseReason.IOERROR)
    verdicts = [misses.interval_end(state, 10.0 * i, outstanding=False)
                for i in range(2, 8)]
    assert verdicts.count(Verdict.HELD) == 1
    assert Verdict.REPORT not in verdicts
    assert state.set_maintenance(False, 80) is Verdict.REPORT
    assert state.reason is Reason.FAILURE_PAUSE


def test_a_failure_that_ended_in_maintenance_is_not_reported_after():
    state = healthy()
    state.set_maintenance(True, 11)
    state.crashed()
    state.started(20)                   # the operator restarted it
    assert state.set_maintenance(False, 30) is Verdict.NONE


def test_a_guest_judged_active_is_not_judged_in_maintenance():
    state = healthy(activity=True)
    state.activity(10, False)
    for i in range(2, 5):
        misses.interval_end(state, 10.0 * i, outstanding=True)
    state.activity(41, True)
    assert misses.judge(state, 41) is Verdict.ACTIVE
    state.set_maintenance(True, 42)
    assert misses.judge(state, 200) is Verdict.NONE
    assert misses.interval_end(state, 210, outstanding=False) is Verdict.NONE
    assert state.held is None


def test_a_boot_hang_is_never_decided_in_maintenance():
    state = make(grace=30, known=True)
    state.set_maintenance(True, 1)
    assert misses.interval_end(state, 40, outstanding=True) is Verdict.NONE
    assert misses.overdue(state, 41) is Verdict.NONE
    assert not state.reported


# -- domain jobs ---------------------------------------------------------------------


def test_misses_under_a_domain_job_do_not_count():
    state = healthy()
    assert misses.job(state, 12) is Verdict.NONE
    for i in range(2, 10):
        assert misses.interval_end(state, 10.0 * i, outstanding=True) \
            is Verdict.NONE
        assert misses.overdue(state, 10.0 * i + 3) is Verdict.NONE
        assert misses.job(state, 10.0 * i + 5) is Verdict.NONE
    assert state.misses == 0


def test_after_a_job_a_hung_agent_has_a_fresh_window():
    state = healthy()
    misses.miss(state, 11, Reason.UNRESPONSIVE)          # one miss before the job
    misses.interval_end(state, 20, outstanding=True)
    misses.job(state, 22)
    misses.interval_end(state, 30, outstanding=True)
    assert misses.miss(state, 35, Reason.UNRESPONSIVE) is Verdict.NONE  # job over
    assert not state.domain_job.held and state.misses == 1
    assert state.first_miss == 35
    assert misses.interval_end(state, 40, outstanding=True) is Verdict.NONE
    assert misses.interval_end(state, 50, outstanding=True) is Verdict.NONE
    assert misses.interval_end(state, 60, outstanding=True) is Verdict.REPORT


def test_a_job_longer_than_job_grace_max_shields_no_longer():
    policy = Policy(failure_threshold=3, boot_grace_period=0,
                    probe_interval=10, activity_check=False,
                    job_grace_max=60)
    state = InstanceState(UUID, 'vm', policy, 0.0)
    state.success(0.0)
    misses.interval_end(state, 10, outstanding=False)
    verdicts = []
    for i in range(1, 12):
        verdicts.append(misses.job(state, 10.0 * i + 2))
        verdicts.append(misses.interval_end(state, 10.0 * i + 10, outstanding=True))
    assert state.domain_job.overran
    # 12 + 60 = 72: the job's results count from then on, one per
    # interval: at 72, 82 and 92 (the job result of i = 9).
    assert verdicts.index(Verdict.REPORT) == 2 * 8
    assert verdicts.count(Verdict.REPORT) == 1


def test_an_answer_ends_the_job():
    state = healthy()
    misses.job(state, 12)
    assert state.success(15) is Verdict.NONE
    assert not state.domain_job.held


def test_job_grace_max_is_not_negative():
    with pytest.raises(ValueError):
        Policy(job_grace_max=-1)


# -- activity attributed by the span each sample covers --------------------------


def test_a_sample_at_the_tick_of_the_first_miss_covers_the_interval_before():
    state = healthy(activity=True)
    misses.interval_end(state, 20, outstanding=False)   # answered until 20
    state.activity(10.2, False)
    state.activity(20.2, True)     # 10.2-20.2: before the hang at 20
    for i in range(3, 6):
        misses.interval_end(state, 10.0 * i, outstanding=True)
    assert state.first_miss == 20
    state.activity(50.2, False)
    assert misses.judge(state, 50.2) is Verdict.REPORT
    assert state.reason is Reason.UNRESPONSIVE


def test_work_in_a_span_that_starts_after_the_first_miss_counts():
    state = healthy(activity=True)
    misses.interval_end(state, 20, outstanding=False)
    state.activity(10.2, False)
    state.activity(20.2, False)
    state.activity(30.2, True)     # 20.2-30.2: after the first miss at 20
    for i in range(3, 6):
        misses.interval_end(state, 10.0 * i, outstanding=True)
    assert misses.judge(state, 50.3) is Verdict.ACTIVE


def test_a_job_that_pauses_the_guest_ends_with_a_fresh_window_not_a_boot():
    state = healthy(grace=120)
    misses.job(state, 12)
    state.paused(30, PauseReason.USER)        # the end of a live dump
    assert state.domain_job.held
    state.resumed(31)
    assert not state.domain_job.held
    assert state.phase is Phase.HEALTHY       # no boot grace of 120 s
    verdicts = [misses.interval_end(state, 31 + 10.0 * i, outstanding=True)
                for i in range(1, 4)]
    assert verdicts == [Verdict.NONE, Verdict.NONE, Verdict.REPORT]


def test_a_failure_pause_ends_the_job():
    state = healthy()
    misses.job(state, 12)
    state.paused(20, PauseReason.IOERROR)
    assert not state.domain_job.held
    assert state.phase is Phase.FAILURE_PAUSE
