"""Which policy a watched instance follows, and whether it is monitored.

Called by the roster when a domain is found or looked up again (its
metadata may have changed), when the policy file is reloaded, and when the
operator switches maintenance. A policy with ``monitor: false`` excludes
the instance the way maintenance does (never probed nor reported; a failure
an event tells is held), but it is not the operator's maintenance: it is
not persisted, and the status shows it as not monitored by policy. Pure.
"""

from oslo_log import log as logging

from masakari_introspect.core import agent_loss
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

CONFIGURATION = 'the configuration'


def warn(watched: Watched, errors: list[str]) -> None:
    """One WARNING per bad value of the domain's own metadata, said again
    only after it changed."""
    state, found = watched.state, tuple(errors)
    for error in found:
        if error not in watched.policy_warnings:
            LOG.warning('Instance %s (%s): ignored in its metadata: %s',
                        state.name, state.uuid, error)
    watched.policy_warnings = found


def assign(watched: Watched, policy: Policy, now: float) -> bool:
    """Give the instance ``policy``; True if it changed. Its record (misses,
    reports, phase) stays: the new settings count from the next input; a
    lost agent follows the new ``agent_loss`` at once."""
    state, old = watched.state, watched.state.policy
    if policy == old:
        return False
    state.policy = policy
    LOG.info('Instance %s (%s) follows %s now (was %s)%s', state.name,
             state.uuid, policy.rule or CONFIGURATION,
             old.rule or CONFIGURATION,
             '' if policy.monitor else ': not monitored')
    if policy.failure_threshold != old.failure_threshold:
        state.threshold_changed()
    agent_loss.policy_changed(watched, old, now)
    return True


def found(watched: Watched, maintenance: bool) -> list[Action]:
    """An instance found (start-up, a domain seen again) that its policy
    excludes, with a report from before (the policy changed while the
    monitor was down): a notification still pending for it is withdrawn,
    as when it is excluded while monitored."""
    state = watched.state
    if state.policy.monitor or maintenance or not state.reported:
        return []
    return [Withdraw(state.uuid, 'not monitored (%s)' % (
        state.policy.rule or CONFIGURATION), WithdrawCause.MAINTENANCE)]


def exclude(watched: Watched, maintenance: bool, now: float
            ) -> tuple[list[Action], Verdict]:
    """Exclude the instance (the operator's maintenance, or a policy with
    ``monitor: false``) or include it again: what to do, and the verdict
    on a failure held meanwhile."""
    state = watched.state
    excluded = maintenance or not state.policy.monitor
    if excluded == state.maintenance:
        return [], Verdict.NONE
    before = state.phase
    verdict = state.set_maintenance(excluded, now)
    if not excluded:
        # Its agent was not asked meanwhile: a heartbeat that went stale
        # then is learned again, on fresh evidence.
        watched.heartbeat.reset(now)
    watched.token = None     # the probe out, if any, says nothing any more
    why = 'put in maintenance' if maintenance else 'not monitored (%s)' % (
        state.policy.rule or CONFIGURATION) if excluded else 'monitored again'
    watched.log_phase(before, why)
    actions: list[Action] = [Save()]
    if excluded:
        actions.append(Withdraw(state.uuid, why, WithdrawCause.MAINTENANCE))
    return actions, verdict
