"""The per-instance state machine, pure: events and results in, verdicts out."""

import pytest

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
    state.interval_end(10.0, outstanding=False)
    return state


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError):
        Policy(failure_threshold=0)
    with pytest.raises(ValueError):
        Policy(boot_grace_period=-1)
    assert Policy(failure_threshold=3, probe_interval=5).window == 15


def test_one_miss_per_interval_however_many_calls_fail():
    state = healthy()
    assert state.miss(11, Reason.UNRESPONSIVE) is Verdict.NONE
    assert state.miss(12, Reason.UNRESPONSIVE) is Verdict.NONE
    assert state.interval_end(20, outstanding=True) is Verdict.NONE
    assert state.misses == 1


def test_threshold_missed_intervals_report_once():
    state = healthy()
    verdicts = [state.interval_end(10.0 * i, outstanding=True)
                for i in range(2, 8)]
    assert verdicts.count(Verdict.REPORT) == 1
    assert verdicts.index(Verdict.REPORT) == 2
    assert state.phase is Phase.FAILED
    assert state.reason is Reason.UNRESPONSIVE


def test_an_answer_in_the_interval_saves_it():
    state = healthy()
    state.miss(11, Reason.BUSY)
    state.success(12)
    assert state.interval_end(20, outstanding=True) is Verdict.NONE
    assert state.misses == 0


def test_with_activity_the_threshold_waits_for_the_sample():
    state = healthy(activity=True)
    state.activity(10, active=False)
    for i in range(2, 5):
        assert state.interval_end(10.0 * i, outstanding=True) \
            is Verdict.NONE
    assert state.awaiting_sample
    state.activity(41, active=True)      # worked in 10-41: after 10
    assert state.judge(41) is Verdict.ACTIVE
    assert state.phase is Phase.ACTIVE
    state.activity(51, active=False)
    assert state.judge(51) is Verdict.NONE
    assert state.judge(72) is Verdict.REPORT
    assert state.reason is Reason.INACTIVE


def test_activity_before_the_first_miss_does_not_count():
    state = healthy(activity=True)
    state.activity(9, active=True)      # the first missed interval: 10-20
    for i in range(2, 5):
        state.interval_end(10.0 * i, outstanding=True)
    assert state.judge(41) is Verdict.REPORT


def test_grace_keeps_misses_from_counting():
    state = make(grace=30)
    for t in (5, 15, 25):
        assert state.miss(t, Reason.DISCONNECTED) is Verdict.NONE
    assert state.misses == 0


def test_never_answered_warns_once_and_is_not_reported():
    state = make(grace=30)
    assert state.miss(31, Reason.DISCONNECTED) is Verdict.NEVER_ANSWERED
    assert state.miss(41, Reason.DISCONNECTED) is Verdict.NONE
    assert state.phase is Phase.NO_AGENT


def test_never_answered_counts_when_the_policy_says_so():
    state = make(grace=30, never=True, threshold=2)
    assert state.miss(31, Reason.DISCONNECTED) is Verdict.NEVER_ANSWERED
    state.interval_end(40, outstanding=False)
    assert state.miss(41, Reason.DISCONNECTED) is Verdict.REPORT


def test_a_known_agent_that_never_comes_up_is_a_boot_hang():
    state = make(grace=30, known=True)
    assert state.miss(31, Reason.DISCONNECTED) is Verdict.REPORT
    assert state.reason is Reason.BOOT_HANG
    assert state.miss(41, Reason.DISCONNECTED) is Verdict.NONE


def test_a_report_stands_across_pause_and_resume_until_an_answer():
    state = healthy()
    for i in range(2, 5):
        state.interval_end(10.0 * i, outstanding=True)
    state.paused(45, PauseReason.USER)
    state.resumed(50)
    assert state.phase is Phase.FAILED
    assert state.success(51) is Verdict.RECOVERED


def test_failure_pause_then_resume_is_not_a_failure():
    state = healthy()
    state.paused(11, PauseReason.IOERROR)
    assert state.interval_end(20, outstanding=False) is Verdict.NONE
    state.resumed(25)
    assert state.interval_end(60, outstanding=False) is Verdict.NONE
    assert not state.reported


def test_maintenance_silences_and_ends_with_a_fresh_grace():
    state = healthy(grace=30)
    state.set_maintenance(True, 11)
    assert not state.probed
    for i in range(2, 8):
        assert state.interval_end(10.0 * i, outstanding=True) \
            is Verdict.NONE
    state.set_maintenance(False, 80)
    assert state.phase is Phase.GRACE
    assert state.grace_until == 110


def test_a_reboot_without_the_agent_is_a_boot_hang_of_a_known_guest():
    state = healthy(grace=30)
    state.rebooted(20)
    assert not state.answered
    assert state.miss(40, Reason.DISCONNECTED) is Verdict.NONE   # in grace
    assert state.miss(51, Reason.DISCONNECTED) is Verdict.REPORT
    assert state.reason is Reason.BOOT_HANG


def test_a_reboot_whose_agent_answers_is_fine():
    state = healthy(grace=30)
    state.rebooted(20)
    assert state.success(25) is Verdict.NONE
    assert state.phase is Phase.HEALTHY
