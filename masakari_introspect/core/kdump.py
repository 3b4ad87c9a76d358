"""Kdump is not a crash to restart: after a *crash loaded* event (pvpanic
with a crash kernel loaded: the guest writes its dump and reboots itself)
no verdict is made until the guest resets and shows life again (its agent
answers or its heartbeat is live), or ``kdump_timeout`` passes: then it is
reported ``crashed`` unless it shows life (it ran on). Maintenance ends the
wait: the guest is judged afresh after it. Pure; called by the fleet."""

from oslo_log import log as logging

from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

_RESETS = (EventKind.STARTED, EventKind.REBOOTED)


def loaded(watched: Watched, now: float, policy: Policy) -> None:
    """A crash-loaded event."""
    state = watched.state
    watched.kdump_since = now
    watched.heartbeat.reset(now)
    if state.reported or state.maintenance or state.phase in (
            Phase.PAUSED, Phase.FAILURE_PAUSE):
        return
    state.crash_loaded()
    LOG.warning('The kernel of instance %s (%s) panicked with a crash kernel '
                'loaded (crash loaded): it writes its dump and reboots; no '
                'verdict until it shows life again, for up to %.0f s '
                '(kdump_timeout)', state.name, state.uuid,
                policy.kdump_timeout)


def reset_seen(watched: Watched, kind: EventKind) -> None:
    """A start or reset while a crash dump may be written."""
    if watched.kdump_since is not None and kind in _RESETS:
        watched.kdump_reset = True


def check(watched: Watched, now: float, policy: Policy) -> Verdict:
    """Each tick while a crash dump may be written: the wait ends when the
    guest reset and shows life again; at ``kdump_timeout`` a guest that
    shows life now (it ran on) is not reported, a silent one is crashed."""
    since, state, beat = watched.kdump_since, watched.state, \
        watched.heartbeat
    if since is None:
        return Verdict.NONE
    if state.maintenance:
        # Not probed in maintenance: no sign of life can come. The wait
        # ends; the guest is judged afresh after maintenance (fresh grace).
        watched.kdump_since, watched.kdump_reset = None, False
        LOG.info('Instance %s (%s) is in maintenance: no longer waiting for '
                 'its crash dump', state.name, state.uuid)
        return Verdict.NONE
    answered = state.last_success is not None and \
        state.last_success > since and \
        now - state.last_success <= 2 * policy.probe_interval
    alive = answered or (beat.live and not beat.stale)
    timed_out = now - since >= policy.kdump_timeout
    if not (timed_out or alive and watched.kdump_reset):
        return Verdict.NONE
    watched.kdump_since, watched.kdump_reset = None, False
    if alive:
        LOG.info('Instance %s (%s) shows life %.0f s after its crash was '
                 'loaded (%s): no longer waiting for its dump', state.name,
                 state.uuid, now - since,
                 'agent answered' if answered else 'kernel heartbeat')
        if state.phase is Phase.KDUMP:
            state.resumed(now)
        return Verdict.NONE
    LOG.warning('Instance %s (%s) shows no life %.0f s after its crash was '
                'loaded (kdump_timeout): crashed', state.name, state.uuid,
                now - since)
    return state.crashed()
