"""Application probes in the decision core, driven synchronously: ticks,
ping answers and run results in, runs, reports and withdrawals out."""

import logging

from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.core.policy import Policy
from masakari_introspect.ops.snapshot import encode_instance
from tests.unit.fakes import A, FakeClock, domain, make_fleet

INTERVAL = 10.0
WEB = AppProbe('web', ('/bin/sh', '-c', 'test -e /run/app'), timeout=5,
               every=2, threshold=3)
ALL = AgentCommands(frozenset(('guest-exec', 'guest-exec-status',
                               'guest-info', 'guest-ping')))


class Bed:
    def __init__(self, *probes, threshold=3, **settings):
        self.clock = FakeClock()
        self.wall = FakeClock(1.7e9)
        self.policy = Policy(failure_threshold=threshold,
                             boot_grace_period=0, probe_interval=INTERVAL,
                             probes=probes or (WEB,))
        self.fleet = make_fleet(self.policy, self.clock, self.wall,
                                **settings)
        self.actions = []
        self.ticks = 0
        self.do(self.fleet.listed([domain(A)]))

    def do(self, actions):
        self.actions += actions
        return actions

    def of(self, kind):
        return [a for a in self.actions if isinstance(a, kind)]

    def runs(self, probe='web'):
        return [a for a in self.of(AppRun) if a.probe.name == probe]

    def reports(self):
        return [a for a in self.of(Report)]

    def tick(self, answer=True, start=True):
        """One interval; the guest's agent answers its ping (or not); the
        runs it starts exec their command at once (``start``), or their
        calls wait for a lane slot."""
        self.clock.advance(INTERVAL)
        self.wall.advance(INTERVAL)
        self.ticks += 1
        actions = self.do(self.fleet.tick())
        pings = [a for a in actions if isinstance(a, Probe)]
        for ping in pings:
            self.do(self.fleet.result(ProbeResult(
                A, Outcome.OK if answer else Outcome.MISS), ping.token))
        runs = [a for a in actions if isinstance(a, AppRun)]
        for run in runs if start else ():
            self.do(self.fleet.app_started(A, run.probe.name, run.token))
        return runs

    def back(self, run, outcome=RunOutcome.PASSED, **fields):
        fields.setdefault('commands', ALL if run.ask_info else None)
        return self.do(self.fleet.app_result(RunResult(
            A, run.probe.name, run.token, outcome, **fields)))

    def healthy_turns(self, n, outcome, **fields):
        """``n`` turns whose runs come back with ``outcome``."""
        started = 0
        while started < n:
            for run in self.tick():
                self.back(run, outcome, **fields)
                started += 1


def test_a_probe_runs_every_other_interval_on_a_healthy_guest():
    bed = Bed()
    bed.tick()     # the first ping answers: healthy from now on
    started = []
    for _ in range(6):
        runs = bed.tick()
        started.append(len(runs))
        for run in runs:
            bed.back(run)
    assert started in ([1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1])
    first = bed.runs()[0]
    assert first.ask_info and first.probe == WEB
    assert not any(r.ask_info for r in bed.runs()[1:])


def test_threshold_failed_runs_report_the_guest_with_reason_application():
    bed = Bed()
    bed.tick()
    bed.healthy_turns(2, RunOutcome.FAILED, exit_code=1, output='no app')
    assert not bed.reports()
    bed.healthy_turns(1, RunOutcome.FAILED, exit_code=1,
                      output='x' * 5000, truncated=True)
    (report,) = bed.reports()
    assert report.notification.reason == 'application'
    assert report.died == 'application'   # verdict.json's part that died
    record = report.probes[-1]
    assert record['application_probe'] == 'web'
    assert record['exit_code'] == 1
    assert record['output'] == 'x' * 5000 and record['output_truncated']
    assert record['failed_runs_in_a_row'] == 3
    # The episode is reported once, however long it lasts.
    bed.healthy_turns(3, RunOutcome.FAILED, exit_code=1)
    assert len(bed.reports()) == 1
    status = encode_instance(bed.fleet.snapshot()[0])
    assert status['application'] == 'failed'
    assert status['probes'][0]['failing']


def test_a_pass_ends_the_episode_and_a_later_failure_is_reported_again():
    bed = Bed()
    bed.tick()
    bed.healthy_turns(3, RunOutcome.FAILED, exit_code=1)
    assert len(bed.reports()) == 1
    bed.healthy_turns(2, RunOutcome.FAILED, exit_code=1)
    bed.healthy_turns(1, RunOutcome.PASSED, exit_code=0)
    withdrawn = bed.of(Withdraw)
    assert [w.why for w in withdrawn] == ['application probe web passes '
                                          'again']
    assert bed.fleet.snapshot()[0].application is None
    bed.healthy_turns(2, RunOutcome.FAILED, exit_code=1)
    assert len(bed.reports()) == 1          # two failures: not yet
    bed.healthy_turns(1, RunOutcome.TIMEOUT, pid=77)
    assert len(bed.reports()) == 2


def test_a_pass_in_between_resets_the_count():
    bed = Bed()
    bed.tick()
    for outcome in (RunOutcome.FAILED, RunOutcome.FAILED, RunOutcome.PASSED,
                    RunOutcome.FAILED, RunOutcome.FAILED):
        bed.healthy_turns(1, outcome)
    assert not bed.reports()


def test_warn_gives_one_warning_and_no_report(caplog):
    probe = AppProbe('db', ('/usr/bin/true',), every=1, threshold=2,
                     on_failure=OnFailure.WARN)
    bed = Bed(probe)
    bed.tick()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            for run in bed.tick():
                bed.back(run, RunOutcome.FAILED, exit_code=3)
    assert not bed.reports()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and 'application probe db' in r.getMessage()]
    assert len(warnings) == 1
    assert 'not reported' in warnings[0].getMessage()
    assert bed.fleet.snapshot()[0].application == 'warning'


def test_a_run_still_out_at_its_turn_fails_and_no_second_run_starts():
    probe = AppProbe('slow', ('/bin/sleep', '60'), timeout=5, every=1,
                     threshold=2)
    bed = Bed(probe)
    bed.tick()
    (first,) = bed.tick()
    assert bed.tick() == []           # still out: no new run; failed once
    assert bed.tick() == []           # counted once only
    assert not bed.reports()
    bed.back(first, RunOutcome.PASSED)   # its late pass is not judged
    counted = bed.fleet.snapshot()[0].probes[0]
    assert (counted.runs, counted.failed_runs, counted.failures) == (1, 1, 1)
    (second,) = bed.tick()
    bed.back(second, RunOutcome.TIMEOUT, pid=41)
    assert len(bed.reports()) == 1     # overran, then a timeout
    (third,) = bed.tick()
    assert third.lingering == 41       # asks for the old process first
    bed.back(third, RunOutcome.OVERRAN, pid=41)
    assert bed.fleet.snapshot()[0].probes[0].runs == 3
    (fourth,) = bed.tick()
    assert fourth.lingering == 41


def test_refusals_are_neither_pass_nor_failure(caplog):
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=1)
    bed = Bed(probe)
    bed.tick()
    (run,) = bed.tick()
    bed.back(run, RunOutcome.FROZEN)
    (run,) = bed.tick()                # retried at the next turn
    bed.back(run, RunOutcome.UNAVAILABLE)
    assert not bed.reports()
    disabled = AgentCommands(frozenset(('guest-info', 'guest-ping')),
                             frozenset(('guest-exec', 'guest-exec-status')))
    with caplog.at_level(logging.WARNING):
        (run,) = bed.tick()
        bed.back(run, RunOutcome.DISABLED, commands=disabled)
        for _ in range(3):
            assert bed.tick() == []     # not run while disabled
    said = [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING]
    assert len(said) == 1
    assert 'application probe web: guest-exec is disabled in the agent' \
        in said[0]
    assert not bed.reports()
    assert bed.fleet.snapshot()[0].probes[0].refused
    # The agent connects anew (restarted with guest-exec allowed).
    for ping in bed.do(bed.fleet.event(DomainEvent(
            A, 'vm-a', EventKind.AGENT_CONNECTED))):
        if isinstance(ping, Probe):
            bed.do(bed.fleet.result(ProbeResult(A, Outcome.OK),
                                    ping.token))
    runs = bed.tick() or bed.tick()    # once it answered a ping again
    (run,) = runs
    assert run.ask_info
    bed.back(run, RunOutcome.PASSED, commands=ALL)
    assert not bed.fleet.snapshot()[0].probes[0].refused


def test_a_frozen_guest_is_asked_again_at_each_turn():
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=1)
    bed = Bed(probe)
    bed.tick()
    frozen = AgentCommands(frozenset(('guest-info',)),
                           frozenset(('guest-exec', 'guest-exec-status')),
                           frozen=True)
    (run,) = bed.tick()
    bed.back(run, RunOutcome.FROZEN, commands=frozen)
    (run,) = bed.tick()
    bed.back(run, RunOutcome.PASSED, commands=ALL)
    assert not bed.reports()


def test_a_dead_guest_is_not_probed_and_judged_as_today():
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=1)
    bed = Bed(probe, threshold=2)
    bed.tick()
    (run,) = bed.tick(answer=False)    # the ping missed: failing
    bed.back(run, RunOutcome.FAILED)   # comes back late: not judged
    for _ in range(4):
        assert bed.tick(answer=False) == []
    reasons = [r.notification.reason for r in bed.reports()]
    assert reasons == ['unresponsive']


def test_a_new_boot_forgets_runs_and_episodes():
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=2)
    bed = Bed(probe)
    bed.tick()
    bed.healthy_turns(1, RunOutcome.FAILED)
    (run,) = bed.tick()
    bed.do(bed.fleet.event(DomainEvent(A, 'vm-a', EventKind.REBOOTED)))
    bed.back(run, RunOutcome.FAILED)   # from before the reboot: dropped
    assert bed.fleet.snapshot()[0].probes[0].failures == 0


def test_a_report_held_by_the_recovery_limit_is_asked_again():
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=1)
    bed = Bed(probe, max_recoveries=1)
    bed.tick()
    bed.healthy_turns(1, RunOutcome.FAILED)
    bed.healthy_turns(1, RunOutcome.PASSED)
    bed.healthy_turns(2, RunOutcome.FAILED)
    assert len(bed.reports()) == 1
    limited = bed.of(Limited)
    assert [x.reason for x in limited] == ['application']


def test_probes_follow_the_guests_policy():
    bed = Bed()
    watched = bed.fleet.watched[A]
    bed.tick()
    assert set(watched.apps.probes) == {'web'}
    watched.state.policy = Policy(probe_interval=INTERVAL, probes=())
    bed.tick()
    bed.tick()
    assert watched.apps.probes == {}
    assert bed.of(AppRun) == []


def test_a_run_whose_result_was_lost_is_given_up():
    probe = AppProbe('web', ('/bin/true',), timeout=5, every=1, threshold=9)
    bed = Bed(probe)
    bed.tick()
    (lost,) = bed.tick()
    for _ in range(3):               # 30 s: still out (overran once)
        assert bed.tick() == []
    (fresh,) = bed.tick()            # 40 s > timeout + 30 s: given up
    assert fresh.token != lost.token
    bed.back(lost, RunOutcome.PASSED)     # too late: dropped
    assert bed.fleet.snapshot()[0].probes[0].failures == 1
