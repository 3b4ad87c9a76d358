"""A late kernel heartbeat, sampled again when it would go stale.

The bulk statistics call samples every guest once per tick, so a heartbeat
that goes stale between two ticks is seen only at the next one. When a
sample finds a live stamp late (:func:`~masakari_introspect.core.heartbeat.
late_after`: its next beat overdue by half a period, which a live guest
never is in steady state), or when a probe of a guest with a live heartbeat
comes back unanswered (the first miss since an answer: a dead kernel's
agent times out), the fleet asks for a sample of just that guest at the
moment its stamp turns ``2 x period + 1`` seconds old, plus :data:`MARGIN`
(:class:`~masakari_introspect.core.actions.SampleLater`, then
:class:`~masakari_introspect.core.actions.SampleGuests` for the guests due
together). That sample is judged exactly as a bulk one: dated when it was
asked (which the call cannot precede), through the same heartbeat rules
(clock steps, a sample asked before a reset says nothing).

At most one per guest, pending or asked; none for a guest whose heartbeat
is not in use or could make no verdict (not live, stale already, Windows,
paused, writing a crash dump, in a domain job, excluded, reported, starved
of CPU). A sample taken at or after the moment, or one whose stamp moved,
makes a pending one moot. Part of
:class:`~masakari_introspect.core.fleet.Fleet`; pure, the clocks passed in.
"""

from oslo_log import log as logging

from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.actions import SampleLater
from masakari_introspect.core.heartbeat import WINDOWS
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# Seconds after the stamp turns stale: the sample is asked no earlier.
MARGIN = 0.1

# A moment on both clocks: (monotonic, wall).
Moment = tuple[float, float]

_NOT_JUDGED = (Phase.PAUSED, Phase.FAILURE_PAUSE, Phase.KDUMP)


def eligible(watched: Watched, now: float) -> bool:
    """A stale heartbeat could make this guest's verdict now."""
    state, heartbeat, starvation = watched.state, watched.heartbeat, \
        watched.starvation
    return state.policy.kernel_heartbeat and heartbeat.os_id != WINDOWS \
        and heartbeat.stale_at() is not None \
        and state.phase not in _NOT_JUDGED and watched.kdump_since is None \
        and not state.maintenance and not state.reported \
        and state.held is None and not state.domain_job.held \
        and not starvation.starved and starvation.since is None


class Rechecks:
    """The fleet's pending and asked samples of single guests."""

    def __init__(self) -> None:
        # uuid -> (the instance, when to ask (monotonic), the stamp then)
        self._pending: dict[str, tuple[Watched, float, int | None]] = {}
        # uuid -> (the instance, when asked): a call not back yet
        self._asked: dict[str, tuple[Watched, Moment]] = {}
        # Missed a probe since its last answer: asked once for that.
        self._missed: dict[str, Watched] = {}

    def pending(self, uuid: str) -> float | None:
        """When the sample of ``uuid`` is to be asked (None: none)."""
        entry = self._pending.get(uuid)
        return None if entry is None else entry[1]

    def asked(self, uuid: str) -> bool:
        return uuid in self._asked

    def sampled(self, watched: Watched, read: Moment) -> list[Action]:
        """A sample asked at ``read`` was taken for ``watched`` (after its
        verdict): drop a pending sample it made moot, and ask one if the
        stamp is late."""
        uuid = watched.state.uuid
        entry = self._pending.get(uuid)
        heartbeat = watched.heartbeat
        if entry is None and not heartbeat.late:
            return []
        now = read[0]
        if entry is not None:
            if entry[0] is watched and heartbeat.stamp == entry[2] and \
                    read[0] < entry[1] - MARGIN and eligible(watched, now):
                return []    # still to come
            del self._pending[uuid]
        if heartbeat.late and eligible(watched, now):
            return self._plan(watched, now, 'its stamp is %.1f s old'
                              % (heartbeat.age() or 0))
        return []

    def probed(self, watched: Watched, outcome: Outcome, now: float
               ) -> list[Action]:
        """A probe of ``watched`` came back: after the first one without an
        answer since an answer (a timeout), its heartbeat is sampled when
        it would go stale."""
        uuid = watched.state.uuid
        if outcome is Outcome.OK:
            self._missed.pop(uuid, None)
            return []
        if outcome is not Outcome.MISS or \
                self._missed.get(uuid) is watched or \
                not eligible(watched, now):
            return []
        self._missed[uuid] = watched
        return self._plan(watched, now, 'its agent did not answer')

    def _plan(self, watched: Watched, now: float, why: str
              ) -> list[Action]:
        uuid = watched.state.uuid
        stale_at = watched.heartbeat.stale_at()
        if stale_at is None or uuid in self._pending or uuid in self._asked:
            return []
        at = max(stale_at + MARGIN, now)
        self._pending[uuid] = (watched, at, watched.heartbeat.stamp)
        LOG.debug('Instance %s (%s): %s; its kernel heartbeat is sampled '
                  'again in %.1f s, when it would go stale',
                  watched.state.name, uuid, why, at - now)
        return [SampleLater(at)]

    def due(self, watched: dict[str, Watched], now: float, wall: float
            ) -> list[Action]:
        """The samples due by ``now``, asked now (both clocks); those of
        guests gone, replaced by another process, or no longer eligible
        are dropped."""
        uuids = []
        for uuid, (instance, at, stamp) in list(self._pending.items()):
            if at > now:
                continue
            del self._pending[uuid]
            if watched.get(uuid) is not instance or \
                    instance.heartbeat.stamp != stamp or \
                    not eligible(instance, now):
                continue
            self._asked[uuid] = (instance, (now, wall))
            uuids.append(uuid)
        return [SampleGuests(tuple(uuids))] if uuids else []

    def keep(self, watched: dict[str, Watched]) -> None:
        """Forget the missed probes of guests no longer ``watched`` (gone,
        or replaced by another process): with guests come and gone, the
        record would only grow."""
        for uuid, instance in list(self._missed.items()):
            if watched.get(uuid) is not instance:
                del self._missed[uuid]

    def answered(self, uuid: str) -> tuple[Watched, Moment] | None:
        """The asked sample of ``uuid`` came back (or failed): the
        instance it was asked for and when."""
        return self._asked.pop(uuid, None)
