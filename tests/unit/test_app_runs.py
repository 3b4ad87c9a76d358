"""Runs of application probes: the chain of agent calls (on a fake agent,
without threads) and their share of the worker budget (a real lane)."""

import threading

from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.runtime.app_runs import AppRunner
from masakari_introspect.runtime.budget import Budget
from masakari_introspect.runtime.lanes import Lane
from tests.unit.fakes import FakeClock
from tests.unit.fakes import wait_until

PROBE = AppProbe('web', ('/bin/sh', '-c', 'test -e /run/app'), timeout=5)
ALL = AgentCommands(frozenset(('guest-exec', 'guest-exec-status')))
NONE = AgentCommands(frozenset(('guest-info',)),
                     frozenset(('guest-exec', 'guest-exec-status')))


class ScriptedAgent:
    """Replies from lists, one per call; records the calls and when."""

    def __init__(self, clock, *, info=(), start=(), status=()):
        self.clock = clock
        self.replies = {'info': list(info), 'start': list(start),
                        'status': list(status)}
        self.calls = []

    def _next(self, name, *args):
        self.calls.append((name, self.clock()) + args)
        return self.replies[name].pop(0)

    def info(self, uuid):
        return self._next('info')

    def start(self, uuid, argv):
        return self._next('start', argv)

    def status(self, uuid, pid):
        return self._next('status', pid)


class InlineLane:
    """Runs spare jobs at once (the lane's threads are tested apart)."""

    def __init__(self):
        self.spare_jobs = 0

    def submit(self, job, *, key='', priority=0, spare=False):
        self.spare_jobs += spare
        job()


class SteppingLater:
    """Runs a timed call by moving the fake clock to its time."""

    def __init__(self, clock):
        self.clock = clock

    def call(self, at, func):
        assert at > self.clock()
        self.clock.now = at
        func()

    def close(self):
        pass


def run(agent, clock, action):
    results = []
    lane = InlineLane()
    runner = AppRunner(agent, lane, results.append, clock=clock,
                       later=SteppingLater(clock))
    runner.run(action)
    assert lane.spare_jobs == len(agent.calls)    # every call a spare job
    (result,) = results
    return result


def test_a_passing_run_asks_info_execs_and_polls_at_most_once_a_second():
    clock = FakeClock(100.0)
    agent = ScriptedAgent(
        clock, info=[ExecReply(ReplyKind.INFO, commands=ALL)],
        start=[ExecReply(ReplyKind.STARTED, pid=9)],
        status=[ExecReply(ReplyKind.RUNNING), ExecReply(ReplyKind.RUNNING),
                ExecReply(ReplyKind.EXITED, exit_code=0, output='ok')])
    result = run(agent, clock, AppRun('u', 1, PROBE, ask_info=True))
    assert result.outcome is RunOutcome.PASSED
    assert (result.token, result.probe, result.output) == (1, 'web', 'ok')
    assert result.commands == ALL
    polls = [t for name, t, *_ in agent.calls if name == 'status']
    assert all(b - a >= 1.0 for a, b in zip(polls, polls[1:], strict=False))
    assert agent.calls[1][2] == PROBE.exec


def test_a_run_past_its_timeout_leaves_its_pid():
    clock = FakeClock(100.0)
    agent = ScriptedAgent(clock, start=[ExecReply(ReplyKind.STARTED, pid=9)],
                          status=[ExecReply(ReplyKind.RUNNING)] * 10)
    result = run(agent, clock, AppRun('u', 1, PROBE))
    assert result.outcome is RunOutcome.TIMEOUT and result.pid == 9
    assert clock() == 105.0            # the last poll at the deadline
    assert len([c for c in agent.calls if c[0] == 'status']) == 6


def test_a_lingering_process_is_asked_for_first():
    clock = FakeClock(100.0)
    agent = ScriptedAgent(clock, status=[ExecReply(ReplyKind.RUNNING)])
    result = run(agent, clock, AppRun('u', 2, PROBE, lingering=9))
    assert result.outcome is RunOutcome.OVERRAN and result.pid == 9
    assert [c[0] for c in agent.calls] == ['status']     # no new exec
    agent = ScriptedAgent(
        clock, status=[ExecReply(ReplyKind.NO_PROCESS),
                       ExecReply(ReplyKind.EXITED, exit_code=1)],
        start=[ExecReply(ReplyKind.STARTED, pid=10)])
    result = run(agent, clock, AppRun('u', 3, PROBE, lingering=9))
    assert result.outcome is RunOutcome.FAILED and result.exit_code == 1
    assert result.pid is None


def test_disabled_by_info_is_not_run():
    clock = FakeClock()
    agent = ScriptedAgent(clock, info=[ExecReply(ReplyKind.INFO,
                                                 commands=NONE)])
    result = run(agent, clock, AppRun('u', 1, PROBE, ask_info=True))
    assert result.outcome is RunOutcome.DISABLED
    assert [c[0] for c in agent.calls] == ['info']


def test_a_refused_exec_asks_info_and_tells_a_freeze_apart():
    clock = FakeClock()
    frozen = AgentCommands(NONE.enabled, NONE.disabled, frozen=True)
    agent = ScriptedAgent(clock, start=[ExecReply(ReplyKind.DISABLED)],
                          info=[ExecReply(ReplyKind.INFO, commands=frozen)])
    result = run(agent, clock, AppRun('u', 1, PROBE))
    assert result.outcome is RunOutcome.FROZEN
    assert result.commands == frozen
    agent = ScriptedAgent(clock, start=[ExecReply(ReplyKind.DISABLED)],
                          info=[ExecReply(ReplyKind.INFO, commands=NONE)])
    assert run(agent, clock, AppRun('u', 1, PROBE)).outcome \
        is RunOutcome.DISABLED


def test_spawn_errors_fail_and_silence_is_not_judged():
    clock = FakeClock()
    agent = ScriptedAgent(clock, start=[ExecReply(
        ReplyKind.COMMAND_ERROR, detail='No such file or directory')])
    result = run(agent, clock, AppRun('u', 1, PROBE))
    assert result.outcome is RunOutcome.FAILED
    assert 'No such file' in result.detail
    for reply in (ExecReply(ReplyKind.UNAVAILABLE),
                  ExecReply(ReplyKind.MALFORMED)):
        agent = ScriptedAgent(clock, start=[ExecReply(ReplyKind.STARTED,
                                                      pid=4)],
                              status=[reply])
        assert run(agent, clock, AppRun('u', 1, PROBE)).outcome \
            is RunOutcome.UNAVAILABLE


def test_the_budget_gives_application_probes_a_quarter():
    assert Budget.of(20, 1.0).application == 5
    assert Budget.of(20, 0.5).application == 2
    assert Budget.of(2, 1.0).application == 1    # the healthy lane's one


def test_a_spare_job_waits_while_a_ping_waits():
    lane = Lane('test', 1, spare=1)
    gate = threading.Event()
    order = []
    done = threading.Event()
    lane.submit(lambda: gate.wait(5), key='blocker')
    lane.submit(lambda: order.append('spare'), key='s', spare=True)
    lane.submit(lambda: order.append('ping'), key='p')
    lane.submit(done.set, key='s2', spare=True)
    gate.set()
    assert done.wait(5)
    assert lane.close(5)
    assert order == ['ping', 'spare']


def test_spare_jobs_take_at_most_their_share_of_the_threads():
    lane = Lane('test', 3, spare=1)
    gate = threading.Event()
    lock = threading.Lock()
    seen = {'now': 0, 'most': 0, 'done': 0}
    ping_ran = threading.Event()

    def spare():
        with lock:
            seen['now'] += 1
            seen['most'] = max(seen['most'], seen['now'])
        gate.wait(5)
        with lock:
            seen['now'] -= 1
            seen['done'] += 1

    for n in range(3):
        lane.submit(spare, key='s%d' % n, spare=True)
    # Once a thread took the first spare job (a loaded host may run the
    # ping's thread first), a ping is not held up by it.
    wait_until(lambda: seen['now'] == 1)
    lane.submit(ping_ran.set, key='p')
    assert ping_ran.wait(5)
    assert lane.spares[0] == 1
    gate.set()
    for _ in range(500):
        if seen['done'] == 3:
            break
        threading.Event().wait(0.01)
    assert lane.close(5)
    assert seen == {'now': 0, 'most': 1, 'done': 3}


class FileAgent:
    """An agent whose probe passes while ``present`` is set; thread-safe."""

    def __init__(self):
        self.present = threading.Event()
        self.present.set()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def info(self, uuid):
        return ExecReply(ReplyKind.INFO, commands=ALL)

    def start(self, uuid, argv):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        return ExecReply(ReplyKind.STARTED, pid=5)

    def status(self, uuid, pid):
        with self.lock:
            self.running -= 1
        return ExecReply(ReplyKind.EXITED,
                         exit_code=0 if self.present.is_set() else 1)


def test_the_monitor_runs_probes_and_reports_an_application_failure():
    from masakari_introspect.core.policy import Policy
    from tests.unit.fakes import InstantHypervisor, RecordingOutbox
    from tests.unit.fakes import make_monitor, wait_until
    hypervisor, outbox, agent = InstantHypervisor(), RecordingOutbox(), \
        FileAgent()
    hypervisor.domains = hypervisor.domains[:1]
    probe = AppProbe('web', ('/bin/true',), timeout=2, every=1, threshold=2)
    monitor = make_monitor(hypervisor, outbox, Policy(
        failure_threshold=2, boot_grace_period=0, probe_interval=0.01,
        probes=(probe,)), agent_exec=agent)
    monitor.start()
    try:
        monitor.resync()

        def turns(n):
            for _ in range(n):
                monitor.tick()
                monitor.query(lambda: None).result(5)
                threading.Event().wait(0.3)   # a run: exec + first poll

        turns(3)
        runs = monitor.query(lambda: monitor.snapshot()[0].probes[0].runs)
        assert runs.result(5) >= 1
        assert outbox.sent == []
        agent.present.clear()
        wait_until(lambda: turns(1) or outbox.sent, timeout=20)
        assert [n.reason for n in outbox.sent] == ['application']
        assert 'application' in monitor.calls()
    finally:
        monitor.stop(2)
    assert agent.most == 1


def test_an_agent_that_raises_ends_the_run_unjudged():
    class Broken:
        def start(self, uuid, argv):
            raise RuntimeError('boom')

    clock, results = FakeClock(), []
    AppRunner(Broken(), InlineLane(), results.append, clock=clock,
              later=SteppingLater(clock)).run(AppRun('u', 1, PROBE))
    (result,) = results
    assert result.outcome is RunOutcome.UNAVAILABLE and 'boom' in result.detail


def test_without_guest_exec_a_run_comes_back_unjudged(caplog):
    import logging
    from masakari_introspect.core.policy import Policy
    from tests.unit.fakes import InstantHypervisor, RecordingOutbox
    from tests.unit.fakes import make_monitor, wait_until
    hypervisor, outbox = InstantHypervisor(), RecordingOutbox()
    hypervisor.domains = hypervisor.domains[:1]
    probe = AppProbe('web', ('/bin/true',), every=1, threshold=1)
    monitor = make_monitor(hypervisor, outbox, Policy(
        failure_threshold=2, boot_grace_period=0, probe_interval=0.01,
        probes=(probe,)))
    caplog.set_level(logging.DEBUG, 'masakari_introspect.core.application')
    monitor.start()
    try:
        monitor.resync()
        for _ in range(6):
            monitor.tick()
            threading.Event().wait(0.05)
        wait_until(lambda: monitor.query(
            lambda: monitor.fleet.watched and all(
                s.token is None for w in monitor.fleet.watched.values()
                for s in w.apps.probes.values())).result(5))
        status = monitor.query(monitor.snapshot).result(5)[0]
    finally:
        monitor.stop(2)
    assert status.probes[0].runs == 0 and not status.probes[0].failing
    assert outbox.sent == []
    assert 'no guest-exec here' in caplog.text
