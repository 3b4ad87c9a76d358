"""What a probe's outcome does to an instance's state machine, and what is
said about the domain job that may hold it (its start, its overrun, its
end).

Part of :class:`~masakari_introspect.core.fleet.Fleet`: called by
:mod:`~masakari_introspect.core.probing` when a probe comes back and by
:mod:`~masakari_introspect.core.events` when an event ends a domain job;
pure, the clock passed in.
"""

from oslo_log import log as logging

from masakari_introspect.core import misses
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# Outcomes that are missed intervals, and the reason they give.
_MISSES = {Outcome.MISS: Reason.UNRESPONSIVE,
           Outcome.DISCONNECTED: Reason.DISCONNECTED,
           Outcome.BUSY: Reason.BUSY, Outcome.ERROR: Reason.ERROR}


def take(watched: Watched, result: ProbeResult, now: float) -> Verdict:
    """Apply a probe's outcome (not GONE or NOT_CONFIGURED) to the
    state machine of ``watched``; say what needs saying."""
    state, outcome = watched.state, result.outcome
    had_job = state.domain_job.held
    verdict = Verdict.NONE
    if outcome is Outcome.OK:
        verdict = state.success(now)
    elif outcome is Outcome.AGENT_ERROR:
        if not _said_agent_error(watched):
            LOG.warning('The agent of instance %s (%s) answered with an '
                        'error: %s; it is alive', state.name, state.uuid,
                        result.detail)
        verdict = state.success(now)
    elif outcome is Outcome.JOB:
        verdict = _job(watched, now)
    elif outcome in _MISSES:
        if outcome is Outcome.ERROR:
            LOG.warning('Unexpected libvirt error probing %s (%s), code '
                        '%s: %s; counted as a miss', state.name,
                        state.uuid, result.error_code, result.detail)
        verdict = misses.miss(state, now, _MISSES[outcome])
    elif outcome is Outcome.NOT_RUNNING:
        state.paused(now, result.pause)
    if had_job:
        say_job_ended(watched)
    return verdict


def say_job_ended(watched: Watched) -> None:
    """If the domain job of ``watched`` is over now, say so."""
    state = watched.state
    if not state.domain_job.held:
        LOG.info('The domain job of instance %s (%s) ended: its misses '
                 'count again, from a fresh failure window', state.name,
                 state.uuid)


def _job(watched: Watched, now: float) -> Verdict:
    state, job = watched.state, watched.state.domain_job
    first, overran = not job.held, job.overran
    verdict = misses.job(state, now)
    if first:
        LOG.info('A domain job holds instance %s (%s): its agent\'s '
                 'misses do not count for up to %.0f s', state.name,
                 state.uuid, job.grace_max)
    elif job.overran and not overran:
        LOG.warning('A domain job holds instance %s (%s) for more than '
                    '%.0f s (job_grace_max): its misses count again',
                    state.name, state.uuid, job.grace_max)
    return verdict


def _said_agent_error(watched: Watched) -> bool:
    """The probe before the last one was answered with an error too."""
    return len(watched.probes) > 1 and \
        watched.probes[-2]['outcome'] == Outcome.AGENT_ERROR.value
