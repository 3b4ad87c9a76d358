"""The per-instance state machine, exhaustively; no I/O, time passed in."""

import pytest

from masakari_introspect.tracker import InstanceState, Phase, Policy, Verdict

N = Verdict.NONE
R = Verdict.REPORT
W = Verdict.NEVER_ANSWERED
V = Verdict.RECOVERED

_CODES = {'.': N, 'R': R, 'W': W, 'V': V}


def make(threshold=3, grace=0.0, never=False, now=0.0, **kwargs):
    policy = Policy(failure_threshold=threshold, boot_grace_period=grace,
                    report_agent_never_answered=never)
    return InstanceState('uuid-1', 'vm-1', policy, now, **kwargs)


def play(state, script, now=0.0):
    """Run a script of steps; return the verdicts of probes as a string.

    Steps: ``ok``, ``miss`` (probes), ``start``, ``resume``, ``pause``,
    ``lost`` (events) and ``+N`` (advance the clock by N seconds).
    Each probe's verdict is one character: . R W V.
    """
    out = []
    symbol = {v: k for k, v in _CODES.items()}
    for step in script.split():
        if step.startswith('+'):
            now += float(step[1:])
        elif step == 'ok':
            out.append(symbol[state.success(now)])
        elif step == 'miss':
            out.append(symbol[state.miss(now)])
        elif step == 'start':
            state.started(now)
        elif step == 'resume':
            state.resumed(now)
        elif step == 'pause':
            state.paused()
        elif step == 'lost':
            state.connection_lost()
        else:
            raise AssertionError(f'bad step {step!r}')
    return ''.join(out)


def answered(threshold=3, grace=0.0, never=False):
    """An instance whose agent answered once (grace over)."""
    state = make(threshold, grace, never)
    assert state.success(0.0) is N
    assert state.phase is Phase.HEALTHY
    return state


# -- the threshold -----------------------------------------------------------

@pytest.mark.parametrize('threshold', [1, 2, 3, 5])
def test_reports_on_exactly_the_nth_consecutive_miss(threshold):
    state = answered(threshold)
    for i in range(1, threshold):
        assert state.miss(float(i)) is N, f'reported early, miss {i}'
        assert state.misses == i
        assert state.phase is Phase.FAILING
        assert not state.reported
    assert state.miss(float(threshold)) is R
    assert state.reported
    assert state.phase is Phase.FAILED


@pytest.mark.parametrize('threshold', [1, 2, 3, 5])
def test_reports_only_once_per_episode(threshold):
    state = answered(threshold)
    verdicts = [state.miss(float(i)) for i in range(threshold + 20)]
    assert verdicts.count(R) == 1
    assert verdicts.index(R) == threshold - 1
    assert all(v is N for v in verdicts[threshold:])
    assert state.reported


@pytest.mark.parametrize('threshold', [1, 2, 3, 5])
def test_success_ends_the_episode_and_rearms(threshold):
    state = answered(threshold)
    first = [state.miss(float(i)) for i in range(threshold)]
    assert first[-1] is R
    assert state.success(100.0) is V
    assert not state.reported
    assert state.misses == 0
    assert state.phase is Phase.HEALTHY
    assert state.last_success == 100.0
    second = [state.miss(101.0 + i) for i in range(threshold)]
    assert second == [N] * (threshold - 1) + [R]


@pytest.mark.parametrize('threshold', [2, 3, 5])
def test_a_success_in_between_restarts_the_count(threshold):
    state = answered(threshold)
    for _ in range(5):
        for i in range(threshold - 1):
            assert state.miss(float(i)) is N
        assert state.success(10.0) is V
    assert not state.reported


def test_healthy_agent_is_never_reported():
    state = make(threshold=1, grace=0)
    verdicts = {state.success(float(t)) for t in range(100)}
    assert verdicts == {N}
    assert state.phase is Phase.HEALTHY
    assert state.last_success == 99.0


# -- a table of sequences ----------------------------------------------------

@pytest.mark.parametrize('threshold,grace,never,script,expected', [
    # plain threshold
    (3, 0, False, 'ok miss miss miss miss', '...R.'),
    (1, 0, False, 'ok miss miss ok miss', '.R.VR'),
    (2, 0, False, 'ok miss ok miss miss miss', '..V.R.'),
    (5, 0, False, 'ok miss miss miss miss miss miss', '.....R.'),
    # recover, then hang again: a second episode, a second report
    (2, 0, False, 'ok miss miss ok miss miss', '..RV.R'),
    # misses in grace do not count, the first success ends grace early
    (2, 60, False, 'miss +10 miss +10 ok miss miss', '....R'),
    # grace expires with no answer ever: warned once, never reported
    (1, 10, False, 'miss +10 miss miss miss miss', '.W...'),
    (3, 10, False, 'miss +10 miss miss miss miss miss miss', '.W.....'),
    # ... unless the policy says so: threshold more misses
    (3, 10, True, 'miss +10 miss miss miss miss', '.W.R.'),
    (1, 10, True, 'miss +10 miss miss', '.R.'),
    # answering late ends the no-agent state, then failures count
    (2, 10, False, '+10 miss ok miss miss', 'WV.R'),
    # answered, rebooted (resume), never answers again: counted after grace
    (2, 30, False, 'ok resume miss +29 miss +1 miss miss miss', '....R.'),
    # a new QEMU process forgets that the agent answered
    (2, 30, False, 'ok miss miss start +30 miss miss', '..RW.'),
    # N-1 misses, connection lost, 1 miss: no report
    (3, 0, False, 'ok miss miss lost miss', '....'),
    (3, 0, False, 'ok miss miss lost miss miss miss', '.....R'),
    # paused: not counted, count reset; resumed: grace
    (3, 0, False, 'ok miss miss pause miss miss resume miss miss miss',
     '.......R'),
    (2, 20, False, 'ok miss pause resume miss +20 miss miss', '....R'),
    # pause/resume of a reported instance keeps it reported
    (2, 0, False, 'ok miss miss pause resume miss miss miss ok miss miss',
     '..R...V.R'),
])
def test_sequences(threshold, grace, never, script, expected):
    state = make(threshold, grace, never)
    assert play(state, script) == expected


# -- grace -------------------------------------------------------------------

def test_misses_during_grace_do_not_count():
    state = make(threshold=2, grace=60, answered=True)
    for t in range(60):
        assert state.miss(float(t)) is N
        assert state.misses == 0
        assert state.phase is Phase.GRACE
    assert state.miss(60.0) is N
    assert state.misses == 1
    assert state.miss(61.0) is R


def test_grace_ends_early_on_the_first_success():
    state = make(threshold=2, grace=120)
    assert state.miss(1.0) is N
    assert state.success(2.0) is N
    assert state.phase is Phase.HEALTHY
    assert state.miss(3.0) is N
    assert state.miss(4.0) is R      # long before the grace would have ended


def test_grace_expiry_without_an_answer_warns_once_and_never_reports():
    state = make(threshold=1, grace=10)
    verdicts = [state.miss(float(t)) for t in range(200)]
    assert verdicts.count(W) == 1
    assert verdicts.index(W) == 10
    assert R not in verdicts
    assert not state.reported
    assert state.phase is Phase.NO_AGENT
    assert state.probed


def test_no_agent_warning_is_once_per_domain_start():
    state = make(threshold=1, grace=10)
    assert play(state, '+10 miss') == 'W'
    # agent reconnect (or resume): grace again, but no second warning
    assert play(state, 'resume miss +10 miss miss', now=10.0) == '...'
    # a new QEMU process: warned again
    assert play(state, 'start miss +10 miss miss', now=30.0) == '.W.'


@pytest.mark.parametrize('threshold', [1, 2, 3, 5])
def test_report_agent_never_answered_reports_after_threshold_more_misses(
        threshold):
    state = make(threshold=threshold, grace=10, never=True)
    assert [state.miss(float(t)) for t in range(10)] == [N] * 10
    after = [state.miss(10.0 + i) for i in range(threshold + 3)]
    assert after.index(R) == threshold - 1
    assert after.count(R) == 1
    if threshold > 1:
        assert after[0] is W
    assert W not in after[1:]
    assert state.reported


def test_answered_before_reboot_and_silent_after_is_counted_after_grace():
    state = make(threshold=3, grace=30)
    assert state.success(0.0) is N
    state.resumed(100.0)            # reboot: no new QEMU process
    assert state.phase is Phase.GRACE
    assert state.answered
    assert state.miss(129.0) is N   # still in grace
    assert state.misses == 0
    assert [state.miss(130.0 + i) for i in range(3)] == [N, N, R]


def test_started_forgets_answered_and_reported():
    state = answered(threshold=1, grace=30)
    assert state.miss(1.0) is R
    state.started(50.0)
    assert not state.answered
    assert not state.reported
    assert state.phase is Phase.GRACE
    assert state.misses == 0
    assert state.miss(79.0) is N
    # the new process's agent never answered: a warning, not a report
    assert state.miss(80.0) is W
    # it answers: failures are reported again
    assert state.success(81.0) is V
    assert state.miss(82.0) is R


# -- pause, resume, connection -----------------------------------------------

def test_paused_resets_the_count_and_stops_probing():
    state = answered(threshold=3)
    assert state.miss(1.0) is N
    assert state.miss(2.0) is N
    state.paused()
    assert state.phase is Phase.PAUSED
    assert state.misses == 0
    assert not state.probed
    assert state.miss(3.0) is N
    assert state.misses == 0


def test_resumed_after_pause_enters_grace():
    state = answered(threshold=1, grace=20)
    state.paused()
    state.resumed(100.0)
    assert state.probed
    assert state.phase is Phase.GRACE
    assert state.miss(119.0) is N
    assert state.miss(120.0) is R


def test_pause_and_resume_of_a_reported_instance_keeps_it_reported():
    state = answered(threshold=2, grace=20)
    assert play(state, 'miss miss', now=1.0) == '.R'
    state.paused()
    assert state.reported
    assert not state.probed
    state.resumed(10.0)
    assert state.reported
    assert state.phase is Phase.FAILED
    assert state.probed
    assert [state.miss(40.0 + i) for i in range(10)] == [N] * 10
    assert state.success(60.0) is V
    assert not state.reported


@pytest.mark.parametrize('threshold', [2, 3, 5])
def test_connection_loss_resets_the_count(threshold):
    state = answered(threshold)
    for i in range(threshold - 1):
        assert state.miss(float(i)) is N
    state.connection_lost()
    assert state.misses == 0
    assert state.miss(10.0) is N
    assert not state.reported
    rest = [state.miss(11.0 + i) for i in range(threshold - 1)]
    assert rest == [N] * (threshold - 2) + [R]


def test_connection_loss_keeps_a_report():
    state = answered(threshold=1)
    assert state.miss(1.0) is R
    state.connection_lost()
    assert state.reported
    assert state.phase is Phase.FAILED
    assert state.miss(2.0) is N


# -- restored state ----------------------------------------------------------

def test_restored_reported_instance_does_not_report_until_a_success():
    state = make(threshold=2, grace=0, answered=True, reported=True)
    assert state.phase is Phase.FAILED
    assert state.reported
    assert [state.miss(float(t)) for t in range(20)] == [N] * 20
    assert state.success(30.0) is V
    assert [state.miss(31.0), state.miss(32.0)] == [N, R]


def test_restored_answered_instance_counts_after_grace():
    state = make(threshold=2, grace=5, answered=True)
    assert state.phase is Phase.GRACE
    assert play(state, 'miss +5 miss miss') == '..R'


def test_fresh_instance_starts_in_grace():
    state = make(threshold=3, grace=120, now=1000.0)
    assert state.phase is Phase.GRACE
    assert state.probed
    assert not state.answered
    assert not state.reported
    assert state.misses == 0
    assert state.last_success is None
    assert state.grace_until == 1120.0


# -- policy ------------------------------------------------------------------

def test_policy_defaults():
    policy = Policy()
    assert policy.failure_threshold == 3
    assert policy.boot_grace_period == 120.0
    assert policy.report_agent_never_answered is False


@pytest.mark.parametrize('kwargs', [
    {'failure_threshold': 0},
    {'failure_threshold': -1},
    {'boot_grace_period': -0.5},
    {'boot_grace_period': -1},
])
def test_policy_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        Policy(**kwargs)


def test_policy_accepts_the_smallest_good_values():
    policy = Policy(failure_threshold=1, boot_grace_period=0)
    assert policy.failure_threshold == 1
    assert policy.boot_grace_period == 0


def test_policy_is_frozen():
    policy = Policy()
    with pytest.raises(AttributeError):
        policy.failure_threshold = 5  # type: ignore[misc]


def test_maintenance_stops_probing_and_reporting_and_ends_in_grace():
    policy = Policy(failure_threshold=2, boot_grace_period=10)
    state = InstanceState('u', 'vm', policy, 0.0)
    state.success(1.0)
    state.set_maintenance(True, 2.0)
    assert not state.probed
    assert state.miss(100.0) is Verdict.NONE
    assert state.miss(101.0) is Verdict.NONE
    assert state.misses == 0
    state.set_maintenance(False, 200.0)
    assert state.probed
    assert state.phase is Phase.GRACE
    assert state.miss(205.0) is Verdict.NONE          # grace
    assert state.miss(211.0) is Verdict.NONE          # first counted miss
    assert state.miss(212.0) is Verdict.REPORT


def test_maintenance_survives_pause_and_resume_events():
    state = InstanceState('u', 'vm', Policy(), 0.0)
    state.set_maintenance(True, 1.0)
    state.paused()
    state.resumed(2.0)
    assert state.maintenance and not state.probed
