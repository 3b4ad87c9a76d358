"""Carrying application probes' runs out, off the owner thread.

A run is a chain of agent calls: guest-info when the core asks for it,
guest-exec-status of the last run's process when it may still run,
guest-exec, then guest-exec-status until the process exits or the probe's
timeout passes, at most once a second. Each call is a spare job of the
healthy probe lane: it takes a worker-budget slot only when no ping waits,
and at most a quarter of the budget (see
:class:`~masakari_introspect.runtime.lanes.Lane`). Between calls a
run holds no slot: a timer thread queues its next call when due.

Runs in flight are forgotten when the service stops; the processes they
started run on in the guest (the agent never kills them).
"""

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol

from oslo_log import log as logging

from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.runtime.lanes import Lane

LOG = logging.getLogger(__name__)

FIRST_POLL = 0.25     # s after guest-exec returned
POLL_EVERY = 1.0      # s between guest-exec-status calls of one run

_REFUSED = {ReplyKind.DISABLED: RunOutcome.DISABLED,
            ReplyKind.FROZEN: RunOutcome.FROZEN}


class AgentExec(Protocol):
    """One agent call each; never raises (virt's ExecPool)."""

    def info(self, uuid: str) -> ExecReply:
        ...

    def start(self, uuid: str, argv: tuple[str, ...]) -> ExecReply:
        ...

    def status(self, uuid: str, pid: int) -> ExecReply:
        ...


class Later:
    """Calls each callable at its monotonic time, on one daemon thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def call(self, at: float, func: Callable[[], None]) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (at, next(self._seq), func))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run,
                                                name='app-probe-timer',
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                if not self._heap or self._heap[0][0] > self._clock():
                    self._cond.wait(self._heap[0][0] - self._clock()
                                    if self._heap else None)
                    continue
                func = heapq.heappop(self._heap)[2]
            try:
                func()
            except Exception:
                LOG.exception('Application probe timer failed')


class Run:
    """One run: its calls, in order; ``done`` gets its result once."""

    def __init__(self, action: AppRun, agent: AgentExec,
                 step: Callable[['Run', Callable[[], None], float], None],
                 done: Callable[[RunResult], None],
                 clock: Callable[[], float],
                 began: Callable[[AppRun], None] | None = None) -> None:
        self.action = action
        self._began_cb = began
        self._agent = agent
        self._step = step        # queue a call: (run, call, at)
        self._done = done
        self._clock = clock
        self._began = clock()
        self._deadline = 0.0
        self._pid = 0
        self._commands: AgentCommands | None = None

    def begin(self) -> None:
        action = self.action
        if action.ask_info:
            self._step(self, self._info, 0.0)
        elif action.lingering is not None:
            self._step(self, self._lingering, 0.0)
        else:
            self._step(self, self._exec, 0.0)

    def _info(self) -> None:
        reply = self._agent.info(self.action.uuid)
        if reply.kind is not ReplyKind.INFO or reply.commands is None:
            return self._end(self._outcome(reply), reply)
        self._commands = reply.commands
        if reply.commands.refuses() is not None:
            return self._end(RunOutcome.FROZEN if reply.commands.frozen
                             else RunOutcome.DISABLED, reply)
        self._step(self, self._lingering if self.action.lingering
                   is not None else self._exec, 0.0)

    def _lingering(self) -> None:
        pid = self.action.lingering or 0
        reply = self._agent.status(self.action.uuid, pid)
        if reply.kind is ReplyKind.RUNNING:
            return self._end(RunOutcome.OVERRAN, reply, pid=pid,
                             detail='the last run (pid %d) still runs' % pid)
        if reply.kind in (ReplyKind.EXITED, ReplyKind.NO_PROCESS):
            return self._step(self, self._exec, 0.0)
        self._refused_or_end(reply, pid)

    def _exec(self) -> None:
        if self._began_cb is not None:
            self._began_cb(self.action)
        self._began = self._clock()
        self._deadline = self._began + self.action.probe.timeout
        reply = self._agent.start(self.action.uuid, self.action.probe.exec)
        if reply.kind is ReplyKind.STARTED and reply.pid is not None:
            self._pid = reply.pid
            return self._step(self, self._poll, min(
                self._clock() + FIRST_POLL, self._deadline))
        if reply.kind is ReplyKind.COMMAND_ERROR:
            return self._end(RunOutcome.FAILED, reply)   # cannot spawn
        self._refused_or_end(reply, None)

    def _poll(self) -> None:
        reply = self._agent.status(self.action.uuid, self._pid)
        if reply.kind is ReplyKind.EXITED:
            return self._end(RunOutcome.PASSED if reply.exit_code == 0
                             else RunOutcome.FAILED, reply)
        if reply.kind is ReplyKind.RUNNING:
            now = self._clock()
            if now >= self._deadline:
                return self._end(RunOutcome.TIMEOUT, reply, pid=self._pid,
                                 detail='still running after %.0f s' %
                                 self.action.probe.timeout)
            return self._step(self, self._poll,
                              min(now + POLL_EVERY, self._deadline))
        self._refused_or_end(reply, self._pid)

    def _refused_or_end(self, reply: ExecReply, pid: int | None) -> None:
        """A refusal asks the agent what it allows now (a freeze, a
        restarted agent); anything else ends the run unjudged."""
        if reply.kind in _REFUSED:
            return self._step(self, lambda: self._refused(reply, pid), 0.0)
        self._end(self._outcome(reply), reply, pid=pid)

    def _refused(self, reply: ExecReply, pid: int | None) -> None:
        commands = self._agent.info(self.action.uuid).commands
        outcome = RunOutcome.FROZEN if reply.kind is ReplyKind.FROZEN \
            or (commands is not None and commands.frozen) \
            else RunOutcome.DISABLED
        self._commands = commands or self._commands
        self._end(outcome, reply, pid=pid)

    @staticmethod
    def _outcome(reply: ExecReply) -> RunOutcome:
        return _REFUSED.get(reply.kind, RunOutcome.UNAVAILABLE)

    def _end(self, outcome: RunOutcome, reply: ExecReply, *,
             pid: int | None = None, detail: str = '') -> None:
        action = self.action
        self._done(RunResult(
            action.uuid, action.probe.name, action.token, outcome,
            exit_code=reply.exit_code, output=reply.output,
            truncated=reply.truncated, detail=detail or reply.detail,
            duration=self._clock() - self._began, pid=pid,
            commands=self._commands))


class AppRunner:
    """Starts runs; their results go to ``post`` (the owner thread).
    Without an ``agent`` (no guest-exec wired) every run comes back
    unjudged at once."""

    def __init__(self, agent: AgentExec | None, lane: Lane,
                 post: Callable[[RunResult], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 later: Later | None = None,
                 started: Callable[[AppRun], None] | None = None) -> None:
        self._started = started
        self._agent = agent
        self._lane = lane
        self._post = post
        self._clock = clock
        self._later = later or Later(clock)
        self._out: dict[str, Run] = {}     # runs in progress, by key
        self._lock = threading.Lock()

    def run(self, action: AppRun) -> None:
        if self._agent is None:
            self._post(RunResult(action.uuid, action.probe.name, action.token,
                                 RunOutcome.UNAVAILABLE,
                                 detail='no guest-exec here'))
            return
        run = Run(action, self._agent, self._step,
                  lambda result: self._finish(run, result), self._clock,
                  self._started)
        with self._lock:
            self._out[_key(action)] = run
        run.begin()

    def drop(self, uuid: str) -> None:
        """The guest's kernel is judged dead: its runs end now, unjudged,
        and their queued calls are not made (no worker spent on them)."""
        with self._lock:
            gone = [run for run in self._out.values()
                    if run.action.uuid == uuid]
            for run in gone:
                del self._out[_key(run.action)]
        for run in gone:
            self._lane.drop(_key(run.action), spare=True)
            action = run.action
            self._post(RunResult(action.uuid, action.probe.name, action.token,
                                 RunOutcome.UNAVAILABLE,
                                 detail='the guest was judged dead'))

    def close(self) -> None:
        self._later.close()

    def _current(self, run: Run) -> bool:
        with self._lock:
            return self._out.get(_key(run.action)) is run

    def _finish(self, run: Run, result: RunResult) -> None:
        with self._lock:
            if self._out.get(_key(run.action)) is not run:
                return          # dropped: its result was posted then
            del self._out[_key(run.action)]
        self._post(result)

    def _step(self, run: Run, call: Callable[[], None], at: float) -> None:
        key = _key(run.action)

        def guarded() -> None:
            if not self._current(run):
                return
            try:
                call()
            except Exception as exc:
                LOG.exception('Application probe %s of %s failed',
                              run.action.probe.name, run.action.uuid)
                action = run.action
                self._finish(run, RunResult(
                    action.uuid, action.probe.name, action.token,
                    RunOutcome.UNAVAILABLE, detail=repr(exc)))

        def submit() -> None:
            self._lane.submit(guarded, key=key, spare=True)

        if at <= self._clock():
            submit()
        else:
            self._later.call(at, submit)


def _key(action: AppRun) -> str:
    return 'app:%s:%s' % (action.uuid, action.probe.name)
