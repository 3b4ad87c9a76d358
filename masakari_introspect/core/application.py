"""Application probes of one guest: when each runs, and what its runs mean.

Pure: no threads, no I/O, no clock. The fleet calls :meth:`GuestApps.turn`
at every tick (a probe turns every ``every`` of the guest's probe
intervals), hands each run's :class:`~masakari_introspect.core.app_run.
RunResult` to :meth:`GuestApps.result`, and acts on the :class:`Judged`
values that come back (a report with reason ``application``, or the
withdrawal of one).

The rules:

* A probe runs only while its guest is healthy (its agent answered the
  last ping) and not starved of CPU; a dead guest is judged by the ping,
  whatever its probes say. A result that comes back once the guest is no
  longer healthy, or while it is starved, is not judged.
* Never two runs of one probe at once: a run still out at the probe's next
  turn, past its timeout, counts as failed and no new run starts; its own result, when it
  comes, is not judged again. A run that timed out leaves its process
  running in the guest (the agent never kills it): the next run first asks
  whether it still runs, and if so it counts as failed (``overran``).
* ``threshold`` failed runs in a row are an application failure episode:
  ``on_failure: report`` reports the guest (again at each later failed run
  while the recovery limit holds the report), ``warn`` gives one WARNING.
  A passing run ends the episode.
* What the agent refuses is neither a pass nor a failure: guest-exec
  disabled gives one WARNING and the probe is not run again until the
  agent connects anew (its commands are asked again then); a refusal while
  the filesystems are frozen is retried at the next turn.
"""

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

from oslo_log import log as logging

from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import RunOutcome
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.app_state import ProbeState
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.core.status import AppProbeStatus

LOG = logging.getLogger(__name__)

# A run out this long past its timeout (s) is given up: its calls could not
# take so long, so its result was lost (the next turn starts a new one).
ABANDON_AFTER = 30.0


class AppVerdict(enum.Enum):
    REPORT = 'report'          # report the guest, reason application
    RECOVERED = 'recovered'    # a reported episode ended: withdraw


@dataclasses.dataclass(frozen=True)
class Judged:
    verdict: AppVerdict
    probe: str
    record: dict[str, Any]     # for the forensics (probes.json)


class GuestApps:
    """The application probes of one guest (see the module's docstring)."""

    def __init__(self, uuid: str, name: str) -> None:
        self.uuid = uuid
        self.name = name
        self.probes: dict[str, ProbeState] = {}
        self.commands: AgentCommands | None = None
        self.ask_info = True     # ask guest-info with the next run
        self._tick = 0           # the last turn's tick
        self._configured: tuple[AppProbe, ...] = ()

    def sync(self, probes: tuple[AppProbe, ...]) -> list[Judged]:
        """Follow the guest's policy: new probes start fresh, changed ones
        too, removed ones are forgotten (with their runs out). A reported
        episode of one forgotten ends: its notification is withdrawn."""
        if probes == self._configured:
            return []
        self._configured = probes
        kept = {name: state for name, state in self.probes.items()
                if any(p == state.probe for p in probes)}
        ended = [state.probe.name for state in self.probes.values()
                 if state.reported and kept.get(state.probe.name) is not
                 state]
        self.probes = {p.name: kept.get(p.name) or ProbeState(p)
                       for p in probes}
        for name in ended:
            LOG.info('Instance %s (%s): application probe %s was reported '
                     'and is changed or removed by its policy: its episode '
                     'ended', self.name, self.uuid, name)
        return [Judged(AppVerdict.RECOVERED, name, {
            'why': 'changed or removed by the policy'}) for name in ended[:1]]

    def agent_connected(self) -> None:
        """A (re)connected agent: ask what it allows; what the last one ran
        is unknown to it."""
        self.ask_info = True
        self.commands = None
        for state in self.probes.values():
            state.lingering = None

    def void(self) -> None:
        """The guest paused, or its agent went: the runs out are not
        judged (their timeouts ran while the guest could not run them)."""
        for state in self.probes.values():
            state.overran = state.token is not None

    def reporting(self) -> str | None:
        """A probe whose failure episode was reported (the notification
        made for it covers every probe of the guest)."""
        return next((name for name, state in self.probes.items()
                     if state.reported), None)

    def wants_report(self) -> bool:
        """A probe in a failure episode that asks for a report."""
        return any(state.failing and state.probe.on_failure is
                   OnFailure.REPORT for state in self.probes.values())

    def rearm(self) -> None:
        """The guest's pending notification was dropped: probes still
        failing report again at their next failed run."""
        for state in self.probes.values():
            state.reported = False

    def reset(self) -> None:
        """A new boot: runs, episodes and what the agent allowed are
        forgotten (the counts of runs are kept)."""
        self.agent_connected()
        for state in self.probes.values():
            state.token, state.overran = None, False
            state.failures, state.failing, state.reported = 0, False, False
            state.refused, state.frozen = None, False

    def turn(self, tick: int, ticks_per_interval: int, healthy: bool,
             tokens: Iterator[int], tick_seconds: float = 10.0
             ) -> tuple[list[AppRun], list[Judged]]:
        """The probes whose turn it is (ticks come every ``tick_seconds``):
        runs to start, and what a run still out at its turn decides."""
        runs: list[AppRun] = []
        judged: list[Judged] = []
        self._tick = tick
        for state in self.probes.values():
            if tick < state.due or not healthy:
                continue
            state.due = tick + ticks_per_interval * max(state.probe.every, 1)
            if state.token is not None and (tick - state.sent) * \
                    tick_seconds > state.probe.timeout + ABANDON_AFTER:
                LOG.warning('Instance %s (%s): application probe %s: its run '
                            'is not back after %.0f s; giving it up',
                            self.name, self.uuid, state.probe.name,
                            (tick - state.sent) * tick_seconds)
                state.token, state.overran = None, False
            if state.token is not None:
                # Still out at its turn, within a timeout longer than the
                # probe's period: waited for, not a failure.
                # Its calls still queued (no slot): nothing ran yet.
                if not state.overran and state.began is not None and (
                        tick - state.began) * tick_seconds > \
                        state.probe.timeout:
                    state.overran = True
                    state.runs += 1
                    judged += self._failed(state, RunResult(
                        self.uuid, state.probe.name, state.token,
                        RunOutcome.OVERRAN,
                        detail='the last run is still out at the next turn'))
                continue
            refused = self.commands.refuses() if self.commands else None
            if refused is not None and self.commands is not None \
                    and not self.commands.frozen:
                self._say_refused(state, refused)
                continue
            state.token, state.sent, state.began = next(tokens), tick, None
            runs.append(AppRun(self.uuid, state.token, state.probe,
                               ask_info=self.ask_info,
                               lingering=state.lingering))
        return runs, judged

    def result(self, result: RunResult, healthy: bool) -> list[Judged]:
        state = self.probes.get(result.probe)
        if state is None or state.token != result.token:
            LOG.debug('Dropped a stale application probe result for %s',
                      self.uuid)
            return []
        state.token = None
        overran, state.overran = state.overran, False
        if result.commands is not None:
            self.commands, self.ask_info = result.commands, False
        state.lingering = result.pid
        if result.outcome is RunOutcome.DISABLED:
            self._refused(state, result)
            return []
        if state.refused is not None:
            LOG.info('Instance %s (%s): application probe %s: the agent '
                     'allows %s again', self.name, self.uuid,
                     state.probe.name, state.refused)
            state.refused = None
        if result.outcome is RunOutcome.FROZEN:
            if not state.frozen:
                LOG.info('Instance %s (%s): application probe %s not run: '
                         'the guest\'s filesystems are frozen (not a '
                         'failure)', self.name, self.uuid, state.probe.name)
            state.frozen = True
            return []
        state.frozen = False
        failed = result.outcome.failed
        LOG.debug('Application probe %s of %s (%s): %s in %.3f s',
                  state.probe.name, self.name, self.uuid, result.describe(),
                  result.duration)
        if failed is None:
            return []      # the agent did not answer: the ping judges
        state.last_duration = result.duration
        if overran or not healthy:
            return []      # counted at its turn; or the guest is failing
        state.runs += 1
        if failed:
            return self._failed(state, result)
        return self._passed(state, result)

    def started(self, probe: str, token: int) -> None:
        """The run's command is being started now (its calls had a slot):
        its timeout counts from this turn on."""
        state = self.probes.get(probe)
        if state is not None and state.token == token:
            state.began = self._tick

    def said_reported(self, probe: str, made: bool) -> None:
        """The fleet's answer to a REPORT: made, or held by the limit."""
        state = self.probes.get(probe)
        if state is not None and state.failing:
            state.reported = made

    def view(self) -> tuple[AppProbeStatus, ...]:
        return tuple(state.view() for state in self.probes.values())

    # -- helpers ---------------------------------------------------------------

    def _failed(self, state: ProbeState, result: RunResult) -> list[Judged]:
        state.last = result
        state.failures += 1
        state.failed_runs += 1
        probe = state.probe
        if state.failures < probe.threshold:
            LOG.info('Instance %s (%s): application probe %s failed (%d of '
                     '%d): %s', self.name, self.uuid, probe.name,
                     state.failures, probe.threshold, result.describe())
            return []
        if not state.failing:
            state.failing = True
            LOG.warning('Instance %s (%s): application probe %s failed %d '
                        'runs in a row: %s; %s', self.name, self.uuid,
                        probe.name, state.failures, result.describe(),
                        'reporting it' if probe.on_failure is
                        OnFailure.REPORT else 'on_failure is warn: not '
                        'reported')
        if probe.on_failure is OnFailure.REPORT and not state.reported:
            return [Judged(AppVerdict.REPORT, probe.name, state.record())]
        return []

    def _passed(self, state: ProbeState, result: RunResult) -> list[Judged]:
        state.last = result
        state.failures = 0
        if not state.failing:
            return []
        state.failing = False
        reported, state.reported = state.reported, False
        LOG.info('Instance %s (%s): application probe %s passes again; its '
                 'failure episode ended', self.name, self.uuid,
                 state.probe.name)
        return [Judged(AppVerdict.RECOVERED, state.probe.name, {})] \
            if reported else []

    def _refused(self, state: ProbeState, result: RunResult) -> None:
        self._say_refused(state, (self.commands.refuses() if self.commands
                                  else None) or 'guest-exec')

    def _say_refused(self, state: ProbeState, command: str) -> None:
        if state.refused is None:
            LOG.warning('Instance %s (%s): application probe %s: %s is '
                        'disabled in the agent; the probe is not run (not '
                        'a failure)', self.name, self.uuid, state.probe.name,
                        command)
        state.refused = command

