"""Review attacks on application probes: where their rules meet the
fleet's others (maintenance, pauses, withdrawals, policy changes)."""

import dataclasses

from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.runtime.app_runs import AppRunner
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.fakes import FakeClock
from tests.unit.test_application import Bed

FAIL = dict(exit_code=1, output='down')
ONE = AppProbe('web', ('/bin/true',), timeout=5, every=1, threshold=1)
ALL_EXEC = AgentCommands(frozenset(('guest-exec', 'guest-exec-status')))
DB = AppProbe('db', ('/bin/true',), timeout=5, every=1, threshold=1)


def reported_bed(*probes):
    bed = Bed(*probes)
    bed.tick()
    turns(bed, 1, **FAIL)
    assert len(bed.reports()) == 1
    return bed


def turns(bed, n, outcome=RunOutcome.FAILED, **fields):
    """``n`` ticks; the runs they start come back with ``outcome``."""
    for _ in range(n):
        for run in bed.tick():
            bed.back(run, outcome, **fields)


def event(bed, kind):
    """The event; a ping it sends is answered."""
    for ping in bed.do(bed.fleet.event(DomainEvent(A, 'vm-a', kind))):
        if isinstance(ping, Probe):
            bed.do(bed.fleet.result(ProbeResult(A, Outcome.OK), ping.token))


def test_maintenance_holds_application_runs():
    bed = Bed(ONE)
    bed.tick()
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    turns(bed, 4)
    assert not bed.reports()


def test_a_kernel_withdrawal_of_the_pending_report_re_arms_the_probe():
    # The application report is pending; the agent then stops answering
    # (unresponsive: the outbox keeps the pending one) and answers again:
    # that withdrawal drops the application's notification while the
    # application still fails. Its next failed run must report it again.
    bed = Bed(ONE, threshold=2)
    bed.tick()
    turns(bed, 1, **FAIL)
    assert [r.notification.reason for r in bed.reports()] == ['application']
    for _ in range(3):
        bed.tick(answer=False)
    bed.tick()                                 # answers again
    (withdraw,) = bed.of(Withdraw)
    bed.do(bed.fleet.withdrawn(withdraw))      # the outbox dropped it
    before = len(bed.reports())
    turns(bed, 2, **FAIL)
    assert len(bed.reports()) == before + 1
    assert bed.reports()[-1].notification.reason == 'application'


def test_one_probe_passing_does_not_withdraw_another_ones_report():
    bed = Bed(ONE, DB)
    bed.tick()
    turns(bed, 1, **FAIL)       # both fail: one notification (pending)
    assert bed.reports()
    for run in bed.tick():      # web passes, db still fails
        bed.back(run, RunOutcome.PASSED if run.probe.name == 'web'
                 else RunOutcome.FAILED)
    assert not bed.of(Withdraw)


def test_two_failing_probes_are_one_report():
    bed = Bed(ONE, DB)
    bed.tick()
    turns(bed, 1, **FAIL)
    assert len(bed.reports()) == 1


def test_a_run_across_a_pause_is_not_judged():
    # The guest is paused while the run is out (its process too) and is
    # resumed: the run's timeout counted host time the guest did not run.
    bed = Bed(ONE)
    bed.tick()
    (run,) = bed.tick()
    event(bed, EventKind.PAUSED)
    event(bed, EventKind.RESUMED)
    bed.tick()     # the ping answers: healthy; the run is still out
    bed.back(run, RunOutcome.TIMEOUT, pid=7)
    assert bed.fleet.snapshot()[0].probes[0].failures == 0


class HeldLane:
    """Keeps spare jobs queued until released (a busy lane)."""

    def __init__(self):
        self.queued = {}

    def submit(self, job, *, key='', priority=0, spare=False):
        self.queued[key] = job

    def drop(self, key, spare=False):
        return self.queued.pop(key, None) is not None

    def release(self):
        jobs, self.queued = list(self.queued.values()), {}
        for job in jobs:
            job()


class NoLater:
    def call(self, at, func):
        pass

    def close(self):
        pass


class CountingAgent:
    def __init__(self):
        self.calls = 0

    def info(self, uuid):
        self.calls += 1
        return ExecReply(ReplyKind.INFO, commands=ALL_EXEC)

    def start(self, uuid, argv):
        self.calls += 1
        return ExecReply(ReplyKind.STARTED, pid=3)

    def status(self, uuid, pid):
        self.calls += 1
        return ExecReply(ReplyKind.EXITED, exit_code=0)


def test_unqueue_drops_a_dead_guests_queued_app_calls_and_ends_its_run():
    clock = FakeClock()
    lane, agent, results = HeldLane(), CountingAgent(), []
    runner = AppRunner(agent, lane, results.append, clock=clock)
    runner.run(AppRun(A, 7, ONE, ask_info=True))
    runner.run(AppRun(B, 8, ONE))
    assert len(lane.queued) == 2
    runner.drop(A)             # A's kernel is dead (Unqueue)
    (ended,) = results         # A's run ends at once, unjudged
    assert (ended.uuid, ended.token) == (A, 7)
    assert ended.outcome.failed is None
    lane.release()             # B's call still goes
    assert agent.calls == 1 and len(results) == 1


def test_a_reported_probe_removed_or_changed_by_policy_withdraws():
    for probes in ((), (dataclasses.replace(ONE, on_failure=OnFailure.WARN),)):
        bed = reported_bed(ONE)
        watched = bed.fleet.watched[A]
        watched.state.policy = dataclasses.replace(watched.state.policy,
                                                   probes=probes)
        bed.tick()
        (withdraw,) = bed.of(Withdraw)
        assert 'web' in withdraw.why


def test_a_removed_probe_does_not_withdraw_another_ones_report():
    bed = reported_bed(ONE, DB)
    watched = bed.fleet.watched[A]
    keep = tuple(p for p in watched.state.policy.probes
                 if p.name != watched.apps.reporting())
    watched.state.policy = dataclasses.replace(watched.state.policy,
                                               probes=keep)
    turns(bed, 1, **FAIL)
    assert not bed.of(Withdraw)


def test_a_run_within_a_timeout_longer_than_its_period_is_not_overran():
    # timeout 30 s, a turn every 10 s: a run of 15 s is within its timeout.
    slow = AppProbe('web', ('/bin/true',), timeout=30, every=1, threshold=1)
    bed = Bed(slow)
    bed.tick()
    (run,) = bed.tick()
    assert bed.tick() == []        # still out, within its timeout: no run
    bed.back(run, RunOutcome.PASSED, duration=15.0)
    (probe,) = bed.fleet.snapshot()[0].probes
    assert (probe.failures, probe.runs, probe.failing) == (0, 1, False)
    assert not bed.reports()
    (late,) = bed.tick()           # out past its timeout: overran, failed
    for _ in range(4):
        bed.tick()
    assert [r.notification.reason for r in bed.reports()] == ['application']
    bed.back(late, RunOutcome.PASSED)


def test_a_held_application_report_ends_with_its_episode():
    # The recovery limit holds the application's report; the application
    # then passes: nothing is held any more (status, check).
    bed = Bed(ONE, max_recoveries=1)
    bed.tick()
    turns(bed, 1, **FAIL)
    turns(bed, 1, RunOutcome.PASSED)
    turns(bed, 1, **FAIL)
    assert bed.of(Limited)
    assert bed.fleet.snapshot()[0].recovery_limited
    turns(bed, 1, RunOutcome.PASSED)
    assert not bed.fleet.snapshot()[0].recovery_limited


def test_guest_exec_enabled_by_an_agent_restart_is_asked_again():
    none = AgentCommands(frozenset(('guest-info',)),
                         frozenset(('guest-exec', 'guest-exec-status')))
    bed = Bed(ONE)
    bed.tick()
    (run,) = bed.tick()
    bed.back(run, RunOutcome.DISABLED, commands=none)
    assert bed.tick() == [] and bed.tick() == []
    event(bed, EventKind.AGENT_DISCONNECTED)
    event(bed, EventKind.AGENT_CONNECTED)
    (again,) = bed.tick()
    assert again.ask_info
    bed.back(again, RunOutcome.PASSED, commands=ALL_EXEC)
    assert not bed.fleet.snapshot()[0].probes[0].refused


def test_a_crash_while_the_application_report_is_pending():
    # The crash is reported too (the outbox keeps the one pending, so
    # Masakari gets one notification: 'application'); the probe, its guest
    # failed, is not judged any more.
    bed = reported_bed(ONE)
    event(bed, EventKind.CRASHED)
    reasons = [r.notification.reason for r in bed.reports()]
    assert reasons[0] == 'application' and len(reasons) == 2
    turns(bed, 3, **FAIL)
    assert len(bed.reports()) == 2


def test_a_run_still_queued_at_its_turn_is_not_a_failure():
    # The lane never had a spare slot for the run's calls (pings kept it
    # busy): its command never ran; once it runs, its timeout counts.
    bed = Bed(ONE)
    bed.tick()
    (queued,) = bed.tick(start=False)
    assert bed.tick() == [] and bed.tick() == []
    assert bed.fleet.snapshot()[0].probes[0].failures == 0
    bed.do(bed.fleet.app_started(A, 'web', queued.token))
    bed.tick()
    assert bed.fleet.snapshot()[0].probes[0].failures == 1


def test_the_runner_says_when_a_run_execs():
    clock = FakeClock()
    lane, agent, results, began = HeldLane(), CountingAgent(), [], []
    runner = AppRunner(agent, lane, results.append, clock=clock,
                       later=NoLater(), started=began.append)
    runner.run(AppRun(A, 7, ONE, ask_info=True))
    lane.release()              # guest-info
    assert began == []
    lane.release()              # guest-exec
    assert [(r.uuid, r.token) for r in began] == [(A, 7)]
