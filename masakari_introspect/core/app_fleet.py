"""The fleet's side of application probes: a guest's turn, a run's result,
and what their verdicts become (a report with reason ``application``, or
the withdrawal of one). Pure, like the fleet; the per-guest rules are in
:mod:`masakari_introspect.core.application`."""

from collections.abc import Callable, Iterator
from typing import Any

from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.application import AppVerdict
from masakari_introspect.core.application import Judged
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.watched import Watched

# Makes the report of ``watched`` for ``reason``, with one more forensics
# entry: the fleet's own report path (storm limit, notification).
# The runs out when these happen say nothing about the application.
_VOIDING = (EventKind.PAUSED, EventKind.MIGRATING, EventKind.SHUTTING_DOWN,
            EventKind.AGENT_DISCONNECTED, EventKind.AGENT_CONNECTED)

Reporting = Callable[[Watched, Reason, dict[str, Any]], list[Action]]


def healthy(watched: Watched, now: float) -> bool:
    """Probes run, and their results count, only on a guest whose agent
    answered its last ping, and that is not starved of CPU (its pings'
    misses do not count then, so it stays healthy; a run that needs CPU
    for longer times out: no failure of the application)."""
    state = watched.state
    return state.phase is Phase.HEALTHY and state.probed and \
        not watched.starvation.shields(now)


def event(watched: Watched, kind: EventKind) -> None:
    if kind in (EventKind.STARTED, EventKind.REBOOTED):
        watched.apps.reset()
        return
    if kind in _VOIDING:
        watched.apps.void()
    if kind is EventKind.AGENT_CONNECTED:
        watched.apps.agent_connected()


def turn(watched: Watched, tick: int, base_interval: float,
         tokens: Iterator[int], now: float
         ) -> tuple[list[AppRun], list[Judged]]:
    """At tick number ``tick`` (every ``base_interval`` s, at ``now``): the
    runs to start and the verdicts of runs still out at their turn."""
    policy = watched.state.policy
    ended = watched.apps.sync(policy.probes if policy.monitor else ())
    if not watched.apps.probes:
        return [], ended
    ratio = max(1, round(policy.probe_interval / base_interval))
    runs, judged = watched.apps.turn(tick, ratio, healthy(watched, now),
                                     tokens, base_interval)
    return runs, ended + judged


def result(watched: Watched, run: RunResult, now: float) -> list[Judged]:
    judged = watched.apps.result(run, healthy(watched, now))
    if watched.limited and not watched.state.reported and \
            not watched.apps.wants_report():
        # The report the limit held was an application's, whose episode
        # ended: nothing is held any more.
        watched.limited = False
    return judged


def started(watched: Watched, probe: str, token: int) -> None:
    watched.apps.started(probe, token)


def act(watched: Watched, judged: list[Judged],
        report: Reporting) -> list[Action]:
    actions: list[Action] = []
    for decision in judged:
        if decision.verdict is AppVerdict.REPORT:
            covered = watched.apps.reporting()
            if covered is not None:
                # One notification for the guest: another probe's episode
                # was reported already (no second recovery).
                watched.apps.said_reported(decision.probe, True)
                continue
            made = report(watched, Reason.APPLICATION, decision.record)
            watched.apps.said_reported(decision.probe, any(
                isinstance(a, Report) for a in made))
            actions += made
        elif not watched.state.reported and watched.apps.reporting() is None:
            # Not while the guest itself, or another of its probes, is
            # reported: the notification is theirs too.
            actions.append(Withdraw(
                watched.state.uuid, 'application probe %s %s' % (
                    decision.probe,
                    decision.record.get('why', 'passes again'))))
    return actions


def withdrawn(watched: Watched) -> None:
    """The guest's pending notification was dropped (whoever withdrew it):
    an application still failing is reported again."""
    watched.apps.rearm()
