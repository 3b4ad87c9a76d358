"""Statistics samples, as the fleet sees them: when the one it waits for
was asked for, and what a sample does to each instance (its activity, its
kernel heartbeat, and the activity check of a failed agent; the vCPU
samples, from a call of their own, feed its starvation).

Part of :class:`~masakari_introspect.core.fleet.Fleet`, which asks for the
samples and carries out the verdicts; pure, the clocks passed in.
"""

from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core import kernel
from masakari_introspect.core import misses
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Sample
from masakari_introspect.core.actions import SampleVcpus
from masakari_introspect.core.actions import Unqueue
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.roster import Roster
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# A moment on both clocks: (monotonic, wall).
Moment = tuple[float, float]


class Asked:
    """The first sample asked for since the last one came back (both
    clocks): the statistics call that answers started no earlier. One for
    each call: the bulk one (:class:`Sample`) and the vCPU one
    (:class:`SampleVcpus`)."""

    def __init__(self, clock: Callable[[], float],
                 wall: Callable[[], float],
                 action: type[Sample | SampleVcpus] = Sample) -> None:
        self._clock = clock
        self._wall = wall
        self._action = action
        self._first: Moment | None = None

    def ask(self) -> Sample | SampleVcpus:
        if self._first is None:
            self._first = (self._clock(), self._wall())
        return self._action()

    @property
    def pending(self) -> bool:
        """Asked for, and not come back yet."""
        return self._first is not None

    def answered(self, now: float) -> Moment:
        """A sample came back at ``now``: when it was asked for at the
        latest (now, if it was not asked for)."""
        first, self._first = self._first, None
        return first or (now, self._wall())


def apply(watched: Watched, activity: Activity | None, now: float,
          read: Moment) -> tuple[list[Action], Verdict | None]:
    """Apply one sample to ``watched`` (``activity`` None: it had none),
    taken at ``read`` at the latest: what to do first (its probe unqueued)
    and the verdict to act on (None: none)."""
    state = watched.state
    if activity is None and state.awaiting_sample:
        LOG.warning('No statistics for %s (%s); its activity counts as none',
                    state.name, state.uuid)
    active = watched.update_activity(activity, state.work.sampled_at)
    state.activity(now, active)
    before = state.phase
    # The heartbeat's age as of the call's start at the latest: a slow
    # call (one starved QEMU delays it all) does not age every stamp.
    verdict = kernel.judge(watched, activity, read[0], read[1], state.policy)
    if verdict is not Verdict.NONE:
        if not (watched.token is not None and watched.running):
            # Queued: dropped. One inside libvirt is taken when it comes
            # back: an answer withdraws the report.
            Roster.void_probe(watched)
        watched.log_phase(before, 'kernel heartbeat stale')
        return [Unqueue(state.uuid)], verdict
    if (state.awaiting_sample or state.phase is Phase.ACTIVE) and \
            not watched.starvation.shields(now):
        before = state.phase
        verdict = misses.judge(state, now)
        watched.log_phase(before, 'activity check')
        return [], verdict
    return [], None


def apply_alone(watched: Watched, activity: Activity, read: Moment,
                starved: bool = False
                ) -> tuple[list[Action], Verdict | None]:
    """Apply a sample of this guest alone, taken between two bulk ones (a
    late heartbeat's, :mod:`~masakari_introspect.core.recheck`), asked at
    ``read``. Its heartbeat is judged as in a bulk sample; its counters
    are left to the next bulk sample, so that work is judged over spans
    as long as between two bulk samples (a guest that works in bursts is
    not idle between two of them). Counters that moved since the last bulk
    sample are work since: no kernel verdict on this sample (the next bulk
    one judges it on its whole span). So are vCPUs that waited for a host
    CPU since the last vCPU sample (``starved``): the interval's vCPU
    sample tells whether the guest is starved or its kernel dead."""
    state = watched.state
    before = state.phase
    verdict = kernel.judge(watched, activity, read[0], read[1], state.policy,
                           decide=not watched.moved(activity)
                           and not starved)
    if verdict is Verdict.NONE:
        return [], None
    if not (watched.token is not None and watched.running):
        Roster.void_probe(watched)
    watched.log_phase(before, 'kernel heartbeat stale')
    return [Unqueue(state.uuid)], verdict
