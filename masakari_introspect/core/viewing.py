"""An instance as operators see it: the
:class:`~masakari_introspect.core.status.InstanceStatus` made from its
record (with which part of the guest died, as far as the evidence says
now), and the one for an instance in maintenance that is not on this host.

Read by :class:`~masakari_introspect.core.roster.Roster` for the status
snapshot; pure, the clock passed in.
"""

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.core.watched import Watched

# Which part of the guest died (status, --json).
KERNEL, USERSPACE, STARVED = 'kernel', 'userspace/agent', 'none (starved)'
_KERNEL = (Reason.KERNEL_HUNG, Reason.CRASHED, Reason.WATCHDOG)


def absent_view(uuid: str, seconds: float) -> InstanceStatus:
    """An instance in maintenance that is not on this host (now)."""
    return InstanceStatus(uuid, '(not on this host)', None, maintenance=True,
                          absent_seconds=round(seconds))


def died(watched: Watched, now: float) -> str | None:
    """Which part of a failed or failing guest died, where the evidence
    says: its kernel, its userspace or agent (the kernel heartbeat
    beats), or none (starved of CPU); None when unknown."""
    state, beat = watched.state, watched.heartbeat
    if state.reason in _KERNEL or (
            beat.stale and state.phase is Phase.FAILED):
        return KERNEL
    if watched.starvation.shields(now):
        return STARVED
    if state.phase is Phase.AGENT_LOST or (
            state.phase in (Phase.FAILING, Phase.FAILED, Phase.ACTIVE)
            and beat.live and not beat.stale):
        return USERSPACE
    return None


def view(watched: Watched, now: float) -> InstanceStatus:
    """``watched`` as operators see it ``now``."""
    state = watched.state
    return InstanceStatus(
        state.uuid, state.name, state.phase, state.reason,
        misses=state.misses,
        seconds_since_success=None if state.last_success is None
        else round(now - state.last_success, 3),
        reported=state.reported, last_notification=watched.last_report,
        maintenance=state.maintenance, recovery_limited=watched.limited,
        recent_reports=len(watched.reports),
        heartbeat_age=watched.heartbeat.age(),
        starved_intervals=watched.starvation.intervals,
        died=died(watched, now), monitored=state.policy.monitor,
        rule=state.policy.rule, probes=watched.apps.view())
