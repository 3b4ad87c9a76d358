"""A probe's life, as the fleet sees it: when one is due, sent, leaves its
queue, comes back or is out too long, and what its interval's end makes of
it.

Part of :class:`~masakari_introspect.core.fleet.Fleet`, which hands out
the tokens, takes the results and carries out the verdicts; pure, the clock
passed in.
"""

from oslo_log import log as logging

from masakari_introspect.core import agent_loss
from masakari_introspect.core import cadence
from masakari_introspect.core import kernel
from masakari_introspect.core import misses
from masakari_introspect.core import outcomes
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Unqueue
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.roster import Roster
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# Outcomes that are missed intervals (core/outcomes.py): none is one while
# the guest is starved of CPU (a timeout, a port its slow boot has not
# opened yet, an agent another caller's slow call holds).
_MISSES = (Outcome.MISS, Outcome.DISCONNECTED, Outcome.BUSY, Outcome.ERROR)
# A call inside libvirt longer than the probe timeout plus this is stuck.
STUCK_AFTER = 1.0


def askable(watched: Watched) -> bool:
    """The guest may be probed now: it runs, is monitored, has no probe
    out, and its kernel heartbeat does not say to wait."""
    return watched.state.probed and watched.token is None and \
        not kernel.silent(watched)


def due(watched: Watched, base: Policy, ticks: int) -> bool:
    """Tick number ``ticks`` probes the guest: one of its intervals ends,
    and a guest judged already is probed once per failure window."""
    return cadence.turn(watched, base, ticks) and askable(watched) and (
        not watched.state.settled or
        cadence.settled_turn(watched, base, ticks))


def send(watched: Watched, token: int, now: float) -> Probe:
    """A probe with ``token`` is queued now."""
    watched.token = token
    watched.sent_at = now
    watched.running = False
    state = watched.state
    watched.suspect = state.phase is not Phase.HEALTHY
    return Probe(state.uuid, token, suspect=watched.suspect,
                 priority=state.misses + (100 if state.settled else 0),
                 osinfo=kernel.ask_os(watched, state.policy))


def came_back(watched: Watched, result: ProbeResult, token: int, now: float
              ) -> tuple[Verdict | None, bool]:
    """The probe ``token`` came back with ``result`` (the guest still
    there): the verdict to act on (None: none, a miss while the guest is
    starved of CPU), and whether the state machine took the result (a
    judgement may then wait for a sample)."""
    before = watched.state.phase
    if result.outcome in _MISSES and watched.starvation.shields(now):
        return None, False    # starved of CPU: not a miss
    kernel.os_told(watched, result.os_id)
    verdict = kernel.came_back(watched, token, result.outcome, now)
    if verdict is not Verdict.NONE:    # the stale heartbeat's verdict
        watched.log_phase(before, 'kernel heartbeat stale, no answer')
        return verdict, False
    if result.outcome is Outcome.DISCONNECTED and \
            agent_loss.found_closed(watched, watched.state.policy, now):
        watched.log_phase(before, 'agent port closed, kernel alive')
        return Verdict.NONE, False
    verdict = outcomes.take(watched, result, now)
    watched.log_phase(before, result.detail or result.outcome.value)
    return verdict, True


def left_queue(watched: Watched, token: int, now: float) -> None:
    """The probe with ``token`` left its queue: it runs inside libvirt."""
    if watched.token == token:
        watched.started_at = now
        watched.running = True


def inside(watched: Watched, now: float) -> float:
    """Seconds the probe of ``watched`` is inside libvirt (0: none).
    Past the probe timeout at the end of its interval, that interval
    had no answer (libvirt gives up on a silent agent after the
    timeout)."""
    return now - watched.started_at \
        if watched.token is not None and watched.running else 0.0


def overdue(watched: Watched, now: float, timeout: float
            ) -> tuple[list[Action], Verdict | None]:
    """A probe out too long makes its interval a missed one now: what to
    do first (the probe unqueued) and the verdict to act on (None: none).

    Out too long: a suspect probe out (in flight or queued) for the probe
    timeout, or a probe of either lane inside libvirt (it left its queue,
    so a worker serves it) for more than the probe timeout plus
    :data:`STUCK_AFTER`: a healthy agent answers in milliseconds, a hung
    one within the timeout, so a call still inside libvirt waits for the
    guest, e.g. behind another client's agent call. A healthy lane probe
    still queued says nothing about its guest.
    """
    if watched.token is None:
        return [], None
    unqueue: list[Action] = [Unqueue(watched.state.uuid)]
    verdict = kernel.waited_out(watched, now, timeout)
    if verdict is not Verdict.NONE:
        Roster.void_probe(watched)   # judged: not waited for
        return unqueue, verdict
    stuck = inside(watched, now) > timeout + STUCK_AFTER
    late = watched.suspect and now - watched.sent_at >= timeout
    if not (stuck or late) or watched.starvation.shields(now):
        return [], None
    before = watched.state.phase
    verdict = kernel.came_back(watched, watched.token, Outcome.MISS, now)
    if verdict is not Verdict.NONE:
        Roster.void_probe(watched)   # judged: not waited for
    else:
        unqueue = []
        verdict = misses.overdue(watched.state, now)
    watched.log_phase(before, 'probe inside libvirt for %.0f s'
                      % (now - watched.started_at) if stuck
                      else 'probe out after the timeout')
    return unqueue, verdict


def close(watched: Watched, now: float, settings: Settings) -> Verdict:
    """The end of one of the guest's intervals."""
    # A probe still out counts as a missed interval when it went to
    # the suspect lane (in flight or waiting for a slot there) or is
    # past its deadline. A healthy-lane probe waiting behind others
    # says nothing about its guest: a hung guest's call comes back
    # as a miss after the timeout.
    starved = watched.starvation.shields(now)
    outstanding = watched.token is not None and (
        watched.suspect or inside(watched, now) > settings.probe_timeout) \
        and not starved
    if watched.token is not None and watched.running and \
            now - watched.started_at > settings.probe_deadline:
        LOG.warning('The probe of %s (%s) is not back after %.0f s;'
                    ' abandoning it', watched.state.name,
                    watched.state.uuid, now - watched.started_at)
        watched.token = None
        outstanding = not starved
    before = watched.state.phase
    # A judgement that waits for a sample waits on while starved, as on
    # the samples (core/sampling.py).
    verdict = misses.interval_end(watched.state, now, outstanding,
                                  judging=not starved)
    watched.log_phase(before, 'no answer in the interval')
    return verdict
