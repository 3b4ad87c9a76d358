"""All decisions for all instances: events, results and ticks in, actions out.

No threads and no I/O: the clocks are passed in, and what must be done
(probe, look a domain up, sample statistics, report, withdraw) comes back
as plain action values for the monitor's owner thread to carry out.

:class:`Fleet` is the one object the monitor calls. Its parts, in this
package: ``roster``, ``events``, ``probing`` (a probe's life), ``sampling``
and ``reporting``; each instance's verdicts are its tracker's.
"""

import itertools
from collections.abc import Callable, Iterable

from oslo_log import log as logging

from masakari_introspect.core import app_fleet
from masakari_introspect.core import cadence
from masakari_introspect.core import events
from masakari_introspect.core import kdump
from masakari_introspect.core import probing
from masakari_introspect.core import recheck
from masakari_introspect.core import reporting
from masakari_introspect.core import sampling
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Persisted
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import SampleVcpus
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.notification import Notification
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.roster import Judged
from masakari_introspect.core.roster import Roster
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.starvation import VcpuTimes
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# A tick this soon after the last one closes no interval (a late owner
# thread handles queued ticks back to back).
TICK_MIN = 0.5   # x probe_interval


class Fleet:
    """All decisions: see the module's docstring."""

    def __init__(self, policy: Policy, settings: Settings, *,
                 remembered: dict[str, Remembered] | None = None,
                 maintenance: Iterable[str] = (),
                 absent: dict[str, float] | None = None,
                 clock: Callable[[], float],
                 wall: Callable[[], float],
                 rules: Rules | None = None) -> None:
        self.policy = policy     # the configuration's; each has its own
        self.settings = settings
        self._clock = clock
        self._wall = wall
        memory = Persisted(dict(remembered or {}), frozenset(maintenance),
                           dict(absent or {}))
        self._roster = Roster(policy, settings, memory, rules or Rules(),
                              clock, wall)
        self._persisted: dict[str, Remembered] = {}
        self._tokens = itertools.count(1)
        self._ticks = 0
        self._last_tick: float | None = None
        self._asked = sampling.Asked(clock, wall)
        self._vcpus_asked = sampling.Asked(clock, wall, SampleVcpus)
        self._rechecks = recheck.Rechecks()
        self._last_read: float | None = None   # the last bulk sample's ask

    # -- membership (the roster's) -----------------------------------------------

    @property
    def watched(self) -> dict[str, Watched]:
        """The monitored instances, by UUID (read only)."""
        return self._roster.watched

    def listed(self, domains: list[DomainInfo]) -> list[Action]:
        """A full listing (start-up, reconnect, periodic resync)."""
        return self._judged(*self._roster.listed(domains))

    def looked_up(self, uuid: str, info: DomainInfo | None) -> list[Action]:
        return self._judged(*self._roster.looked_up(uuid, info))

    def set_rules(self, rules: Rules) -> list[Action]:
        """The policy file's rules changed (SIGHUP): every instance gets
        its policy again, keeping its record."""
        return self._judged(*self._roster.set_rules(rules))

    def _judged(self, actions: list[Action], judged: list[Judged]
                ) -> list[Action]:
        for watched, verdict in judged:
            actions += self._act(watched, verdict)
            self._roster.settle(watched)
        return actions

    def set_maintenance(self, instance: str, on: bool
                        ) -> tuple[str | None, list[Action]]:
        """Exclude an instance (UUID or name), or include it again; its
        UUID (None if unknown) and what to do."""
        uuid, actions, verdict = self._roster.set_maintenance(instance, on)
        watched = self.watched.get(uuid or '')
        if watched is not None:
            actions += self._act(watched, verdict)
        return uuid, actions

    def persisted(self) -> Persisted:
        """What to write to disk now; later changes return a Save."""
        records = self._roster.records()
        self._persisted = {u: records[u] for u in self.watched}
        return Persisted(records, frozenset(self._roster.maintenance),
                         dict(self._roster.absent))

    def records(self) -> dict[str, Remembered]:
        return self._roster.records()

    def snapshot(self) -> list[InstanceStatus]:
        return self._roster.snapshot()

    # -- inputs ----------------------------------------------------------------

    def connection(self, up: bool) -> list[Action]:
        if not up:
            for watched in self.watched.values():
                watched.state.connection_lost()
                self._roster.void_probe(watched)
        return []

    def event(self, event: DomainEvent) -> list[Action]:
        now = self._clock()
        if event.kind is EventKind.STOPPED:
            keep = event.detail in events.FAILED_STOPS
            return self._roster.forget(event.uuid, 'domain stopped (%s)'
                                       % event.detail, withdraw=not keep,
                                       keep_hold=keep)
        watched = self.watched.get(event.uuid)
        if event.kind is EventKind.METADATA_CHANGED:
            # Its policy may have changed: read it again.
            return [Lookup(event.uuid)] if watched is not None else []
        if event.kind is EventKind.UNDEFINED:
            # virsh undefine of a running domain: it runs on, transient.
            if watched is not None:
                LOG.info('Instance %s (%s) lost its definition but still '
                         'runs: still monitored', watched.state.name,
                         event.uuid)
            return []
        if watched is None:
            if event.kind is EventKind.AGENT_DISCONNECTED:
                return []
            return [Lookup(event.uuid)]
        verdict, saved = events.apply(watched, event, now)
        actions = saved + self._act(watched, verdict)
        if event.kind in (EventKind.AGENT_CONNECTED,
                          EventKind.AGENT_DISCONNECTED) \
                and probing.askable(watched):
            actions.append(self._probe(watched))
        return actions

    def result(self, result: ProbeResult, token: int) -> list[Action]:
        watched = self.watched.get(result.uuid)
        if watched is None or watched.token != token:
            LOG.debug('Dropped a stale probe result for %s', result.uuid)
            return []
        watched.token = None
        watched.remember_probe(result, self._wall())
        state, now = watched.state, self._clock()
        LOG.debug('Probe %s (%s): %s %s in %.3f s', state.name, result.uuid,
                  result.outcome.value, result.detail, result.duration)
        if result.outcome in (Outcome.GONE, Outcome.NOT_CONFIGURED):
            return self._roster.forget(result.uuid, result.detail)
        verdict, taken = probing.came_back(watched, result, token, now)
        later = self._rechecks.probed(watched, result.outcome, now)
        if verdict is None:
            return later
        actions = self._act(watched, verdict) + later
        if taken and state.awaiting_sample:
            actions.append(self._asked.ask())   # judge it now
        return actions

    def started(self, uuid: str, token: int) -> list[Action]:
        """A probe left its queue: a lane thread makes the libvirt call
        now (see :meth:`overdue` for a call that does not come back)."""
        watched = self.watched.get(uuid)
        if watched is not None:
            probing.left_queue(watched, token, self._clock())
        return []

    def overdue(self) -> list[Action]:
        """Probes out too long make their interval a missed one now (see
        :func:`~masakari_introspect.core.probing.overdue`), and those that
        reach the threshold are judged on a fresh sample."""
        now = self._clock()
        actions: list[Action] = []
        for watched in self.watched.values():
            first, verdict = probing.overdue(watched, now,
                                             self.settings.probe_timeout)
            if verdict is not None:
                actions += first + self._act(watched, verdict)
        if any(w.state.awaiting_sample for w in self.watched.values()):
            actions.append(self._asked.ask())
        return actions

    def tick(self) -> list[Action]:
        """The end of one probe interval and the start of the next.

        A tick handled less than half an interval after the last one
        (queued behind a stalled owner thread) closes no interval."""
        now = self._clock()
        if self._last_tick is not None and now - self._last_tick < \
                TICK_MIN * self.policy.probe_interval:
            LOG.debug('A tick %.3f s after the last one: no interval '
                      'closed', now - self._last_tick)
            return []
        self._last_tick = now
        self._ticks += 1
        self._rechecks.keep(self.watched)
        actions: list[Action] = []
        for watched in self.watched.values():
            # A guest with a longer interval of its own: every k-th tick.
            if cadence.turn(watched, self.policy, self._ticks):
                actions += self._act(watched, probing.close(
                    watched, now, self.settings))
            if watched.kdump_since is not None:
                actions += self._act(watched, kdump.check(
                    watched, now, watched.state.policy))
            if watched.limited and watched.state.reported and \
                    not watched.state.maintenance:
                # If the window allows; never while excluded (maintenance
                # or monitor: false): the report waits for its end.
                actions += self._report(watched)
            if probing.due(watched, self.policy, self._ticks):
                actions.append(self._probe(watched))
            runs, judged = app_fleet.turn(watched, self._ticks,
                                          self.policy.probe_interval,
                                          self._tokens, now)
            actions += runs + app_fleet.act(watched, judged, self._report)
        if self._vcpus_asked.pending:
            # The last vCPU call is not back: an interval without figures,
            # as one that failed (a hung call cannot shield a hang).
            for watched in self.watched.values():
                watched.starvation.unanswered()
        if self.watched:
            actions += [self._vcpus_asked.ask(), self._asked.ask()]
        return actions

    def app_result(self, run: RunResult) -> list[Action]:
        """An application probe's run came back."""
        watched = self.watched.get(run.uuid)
        if watched is None:
            return []
        return app_fleet.act(watched, app_fleet.result(watched, run,
                                                       self._clock()),
                             self._report)

    def app_started(self, uuid: str, probe: str, token: int
                    ) -> list[Action]:
        """An application probe's run execs its command now."""
        watched = self.watched.get(uuid)
        if watched is not None:
            app_fleet.started(watched, probe, token)
        return []

    def sampled(self, activities: list[Activity] | None) -> list[Action]:
        """One statistics sample; None if it could not be taken."""
        now = self._clock()
        read = self._asked.answered(now)
        self._last_read = read[0]
        found = {a.uuid: a for a in activities or ()}
        actions: list[Action] = []
        for uuid, watched in self.watched.items():
            actions += self._apply(watched, found.get(uuid), now, read)
        return actions

    def recheck(self) -> list[Action]:
        """A late heartbeat's moment came (:class:`SampleLater`): the
        samples of single guests due now (see :mod:`recheck`)."""
        return self._rechecks.due(self.watched, self._clock(), self._wall())

    def guests_sampled(self, uuids: tuple[str, ...],
                       activities: list[Activity] | None,
                       vcpus: dict[str, VcpuTimes] | None = None
                       ) -> list[Action]:
        """The sample of ``uuids`` alone (:class:`SampleGuests`); None if
        it could not be taken. Each guest's heartbeat is judged as in a
        bulk sample, dated when it was asked (its counters are left to the
        next bulk sample: :func:`sampling.apply_alone`); a guest without one (stopped,
        gone) waits for the next bulk sample, and so does one replaced by
        another QEMU process meanwhile or sampled by a bulk call asked
        later (the calls run in order: never, but cheap to rule out).
        ``vcpus``: every running guest's vCPU figures, read with it (None:
        not read); a guest whose vCPUs were starved since the last vCPU
        sample gets no verdict from it (the next interval's tells)."""
        found = {a.uuid: a for a in activities or ()}
        actions: list[Action] = []
        for uuid in uuids:
            asked = self._rechecks.answered(uuid)
            activity = found.get(uuid)
            if asked is None or activity is None:
                continue
            watched, read = asked
            if self.watched.get(uuid) is not watched or (
                    self._last_read is not None
                    and read[0] < self._last_read):
                continue
            # vCPUs read with it, starved since the interval's vCPU
            # sample: no verdict before the next one tells.
            starved = watched.starvation.peek(
                read[0], (vcpus or {}).get(uuid, ()))
            first, verdict = sampling.apply_alone(watched, activity, read,
                                                  starved)
            if verdict is not None:
                actions += first + self._act(watched, verdict)
            actions += self._rechecks.sampled(watched, read)
        return actions

    def _apply(self, watched: Watched, activity: Activity | None,
               now: float, read: sampling.Moment) -> list[Action]:
        """One guest's record of a sample asked at ``read``."""
        first, verdict = sampling.apply(watched, activity, now, read)
        actions = [] if verdict is None else \
            first + self._act(watched, verdict)
        return actions + self._rechecks.sampled(watched, read)

    def vcpus_sampled(self, found: dict[str, VcpuTimes] | None
                      ) -> list[Action]:
        """Every running guest's vCPU run time and run delay, from the
        call of their own (None if it could not be taken): the starvation
        evidence, each interval even while the bulk statistics call is
        late (a starved guest's QEMU answers that one late). Dated when
        the call was asked: its figures are read no earlier."""
        read, _wall = self._vcpus_asked.answered(self._clock())
        for uuid, watched in self.watched.items():
            watched.starvation.sample(read, (found or {}).get(uuid, ()),
                                      watched.state.name, uuid)
        return []

    def _probe(self, watched: Watched) -> Probe:
        return probing.send(watched, next(self._tokens), self._clock())

    def report_failed(self, notification: Notification) -> list[Action]:
        """The notification could not be spooled: decide again."""
        watched = self.watched.get(notification.instance_uuid)
        if watched is None:     # a held failure of an instance not here
            return self._roster.report_failed(notification.instance_uuid)
        return reporting.failed(watched)

    def withdrawn(self, withdraw: Withdraw) -> list[Action]:
        """``withdraw`` found the instance's report still pending and
        dropped it: for maintenance, the report was never made."""
        watched = self.watched.get(withdraw.uuid)
        if watched is None:
            return []
        app_fleet.withdrawn(watched)
        return reporting.withdrawn(watched, withdraw.cause)

    def _act(self, watched: Watched, verdict: Verdict) -> list[Action]:
        if verdict is Verdict.REPORT:
            return self._report(watched)
        watched.say(verdict, watched.state.policy, self._clock())
        if verdict is Verdict.RECOVERED:
            return [Save(), Withdraw(watched.state.uuid,
                                     'the guest answers again')]
        if watched.remembered() != self._persisted.get(watched.state.uuid):
            return [Save()]
        return []

    def _report(self, watched: Watched, reason: Reason | None = None,
                record: dict[str, object] | None = None) -> list[Action]:
        return reporting.report(watched, self.settings, self._clock(),
                                self._wall(), reason, record)
