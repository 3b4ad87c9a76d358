"""Agent lost, kernel alive: the guest closed its agent's port (libvirt's
agent lifecycle event, disconnected, reason channel) while its kernel
heartbeat is live. Pure; called by the fleet on that event, and on a probe
that finds the port closed."""

from oslo_log import log as logging

from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

CHANNEL = 'channel'   # the agent event's reason: the guest closed the port
# Phases an answered agent can be lost from.
_FROM = (Phase.HEALTHY, Phase.FAILING, Phase.ACTIVE)


def disconnected(watched: Watched, event: DomainEvent,
                 policy: Policy) -> None:
    """Apply the rule to an agent disconnected event."""
    if event.detail == CHANNEL:
        _lost(watched, policy, _FROM)


def found_closed(watched: Watched, policy: Policy, now: float) -> bool:
    """A probe found the port closed. In grace, after a pause and resume or
    a restart of the monitor (which end the phase the event gave), or
    failing or healthy with no event or a channel one: True if
    the agent, which answered in this boot, is lost, its kernel alive. Also
    True (not a miss, the phase unchanged) while the heartbeat of such an
    agent's guest is still being learned: after a restart of the monitor
    it is not known yet whether the kernel lives."""
    # Out of grace too (its first probe after a restart may have found the
    # domain busy, say, before the heartbeat was learned), unless the
    # port's event named another reason than the guest closing it.
    phases = (Phase.GRACE,) + _FROM \
        if watched.port_reason in (None, CHANNEL) else (Phase.GRACE,)
    if _lost(watched, policy, phases):
        return True
    state = watched.state
    if policy.agent_loss is not AgentLoss.WARN \
            or not policy.kernel_heartbeat \
            or not state.answered or state.reported or state.maintenance \
            or state.phase not in (Phase.GRACE,) + _FROM \
            or not watched.heartbeat.learning(now):
        return False
    LOG.debug('The guest agent of instance %s (%s) has its port closed; its '
              'kernel heartbeat is being learned: not a miss yet',
              state.name, state.uuid)
    return True


def heartbeat_gone(watched: Watched, now: float, why: str) -> None:
    """A sample with statistics off (period 0: an operator turned them off
    live), or a heartbeat learned again that did not move in time, while
    the agent is lost: nothing tells any more that the kernel lives, so
    its misses count again, as a guest's without a heartbeat (lost again
    if its heartbeat lives again when a probe finds the port closed)."""
    state = watched.state
    if state.phase is not Phase.AGENT_LOST:
        return
    state.agent_counts(now)
    LOG.warning('Instance %s (%s): %s, so its kernel heartbeat no longer '
                'tells its kernel lives: its lost agent counts its misses '
                'again', state.name, state.uuid, why)


def policy_changed(watched: Watched, old: Policy, now: float) -> None:
    """The instance's policy changed (reload, metadata): a lost agent
    the new policy no longer spares counts its misses again; a failing
    one whose port is closed, that it spares now, is lost."""
    state, policy = watched.state, watched.state.policy
    if (old.agent_loss, old.kernel_heartbeat) == \
            (policy.agent_loss, policy.kernel_heartbeat):
        return
    if state.phase is Phase.AGENT_LOST:
        if policy.agent_loss is not AgentLoss.WARN or \
                not policy.kernel_heartbeat:
            state.agent_counts(now)
            LOG.info('Instance %s (%s): its lost agent counts its misses '
                     'again (agent_loss: %s)', state.name, state.uuid,
                     policy.agent_loss.value)
    elif state.reason is Reason.DISCONNECTED:
        _lost(watched, policy, _FROM)


def _lost(watched: Watched, policy: Policy, phases: tuple[Phase, ...]
          ) -> bool:
    state, heartbeat = watched.state, watched.heartbeat
    if policy.agent_loss is not AgentLoss.WARN \
            or not policy.kernel_heartbeat \
            or not state.answered or state.reported or state.maintenance \
            or state.phase not in phases \
            or not heartbeat.live or heartbeat.stale:
        return False
    state.agent_lost()
    LOG.warning('The guest agent of instance %s (%s) closed its port, but '
                'its kernel is alive (heartbeat %.0f s old): agent gone, '
                'kernel alive; not reported while the heartbeat lives',
                state.name, state.uuid, heartbeat.age() or 0)
    return True
