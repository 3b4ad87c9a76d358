"""Kdump is not a crash to restart: after a *crash loaded* event (pvpanic
with a crash kernel loaded: the guest writes its dump and reboots itself)
no verdict is made until the guest shows life again (its agent answers or
its heartbeat is live), or ``kdump_timeout`` passes: then it is reported
``crashed``. Pure; called by the fleet."""

from oslo_log import log as logging

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)


def loaded(watched: Watched, now: float, policy: Policy) -> None:
    """A crash-loaded event."""
    state = watched.state
    watched.kdump_since = now
    watched.heartbeat.reset()
    if state.reported or state.maintenance or state.phase in (
            Phase.PAUSED, Phase.FAILURE_PAUSE):
        return
    state.crash_loaded()
    LOG.warning('The kernel of instance %s (%s) panicked with a crash kernel '
                'loaded (crash loaded): it writes its dump and reboots; no '
                'verdict until it shows life again, for up to %.0f s '
                '(kdump_timeout)', state.name, state.uuid,
                policy.kdump_timeout)


def check(watched: Watched, now: float, policy: Policy) -> Verdict:
    """Each tick while a crash dump may be written."""
    since, state = watched.kdump_since, watched.state
    if since is None:
        return Verdict.NONE
    answered = state.last_success is not None and state.last_success > since
    if answered or watched.heartbeat.live:
        watched.kdump_since = None
        LOG.info('Instance %s (%s) shows life again after its crash dump '
                 '(%s)', state.name, state.uuid,
                 'agent answered' if answered else 'kernel heartbeat')
        if state.phase is Phase.KDUMP:
            state.resumed(now)
        return Verdict.NONE
    if now - since < policy.kdump_timeout:
        return Verdict.NONE
    watched.kdump_since = None
    LOG.warning('Instance %s (%s) shows no life %.0f s after its crash '
                'dump began (kdump_timeout): crashed', state.name,
                state.uuid, now - since)
    return state.crashed()
