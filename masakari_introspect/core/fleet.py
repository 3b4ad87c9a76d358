"""All decisions for all instances: events, results and ticks in, actions out.

No threads and no I/O: the clocks are passed in, and what must be done
(probe, look a domain up, sample statistics, report, withdraw) comes back
as plain action values for the monitor's owner thread to carry out.
"""

import dataclasses
import datetime
import itertools
from collections.abc import Callable, Iterable

from oslo_log import log as logging

from masakari_introspect.core import agent_loss
from masakari_introspect.core import app_fleet
from masakari_introspect.core import cadence
from masakari_introspect.core import died
from masakari_introspect.core import events
from masakari_introspect.core import kdump
from masakari_introspect.core import kernel
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Persisted
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Sample
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Unqueue
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.notification import Notification
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.roster import Judged
from masakari_introspect.core.roster import Roster
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# A tick this soon after the last one closes no interval (a late owner
# thread handles queued ticks back to back).
TICK_MIN = 0.5   # x probe_interval
# A call inside libvirt longer than the probe timeout plus this is stuck.
STUCK_AFTER = 1.0


class Fleet:
    """All decisions: see the module's docstring; membership is the
    roster's, each instance's verdicts its tracker's."""

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
        # The first sample asked for since the last one came back (both
        # clocks): the statistics call that answers started no earlier.
        self._asked: tuple[float, float] | None = None

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
                                       % event.detail, withdraw=not keep)
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
        state = watched.state
        verdict, saved = events.apply(watched, event, now)
        actions = saved + self._act(watched, verdict)
        if event.kind in (EventKind.AGENT_CONNECTED,
                          EventKind.AGENT_DISCONNECTED) \
                and state.probed and watched.token is None \
                and not kernel.silent(watched):
            actions.append(self._probe(watched))
        return actions

    def result(self, result: ProbeResult, token: int) -> list[Action]:
        watched = self.watched.get(result.uuid)
        if watched is None or watched.token != token:
            LOG.debug('Dropped a stale probe result for %s', result.uuid)
            return []
        watched.token = None
        watched.remember_probe(result, self._wall())
        state, before = watched.state, watched.state.phase
        now = self._clock()
        LOG.debug('Probe %s (%s): %s %s in %.3f s', state.name, result.uuid,
                  result.outcome.value, result.detail, result.duration)
        if result.outcome in (Outcome.GONE, Outcome.NOT_CONFIGURED):
            return self._roster.forget(result.uuid, result.detail)
        if result.outcome is Outcome.MISS and \
                watched.starvation.shields(now):
            return []    # starved of CPU: not a miss
        kernel.os_told(watched, result.os_id)
        verdict = kernel.came_back(watched, token, result.outcome, now)
        if verdict is not Verdict.NONE:    # the stale heartbeat's verdict
            watched.log_phase(before, 'kernel heartbeat stale, no answer')
            return self._act(watched, verdict)
        if result.outcome is Outcome.DISCONNECTED and \
                agent_loss.found_closed(watched, watched.state.policy, now):
            watched.log_phase(before, 'agent port closed, kernel alive')
            return self._act(watched, Verdict.NONE)
        verdict = watched.take(result, now)
        watched.log_phase(before, result.detail or result.outcome.value)
        actions = self._act(watched, verdict)
        if state.awaiting_sample:
            actions.append(self._sample())   # judge it now
        return actions

    def started(self, uuid: str, token: int) -> list[Action]:
        """A probe left its queue: a lane thread makes the libvirt call
        now (see :meth:`overdue` for a call that does not come back)."""
        watched = self.watched.get(uuid)
        if watched is not None and watched.token == token:
            watched.started_at = self._clock()
            watched.running = True
        return []

    @staticmethod
    def _inside(watched: Watched, now: float) -> float:
        """Seconds the probe of ``watched`` is inside libvirt (0: none).
        Past the probe timeout at the end of its interval, that interval
        had no answer (libvirt gives up on a silent agent after the
        timeout)."""
        return now - watched.started_at \
            if watched.token is not None and watched.running else 0.0

    def overdue(self) -> list[Action]:
        """Probes out too long make their interval a missed one now, and
        those that reach the threshold are judged on a fresh sample.

        Out too long: a suspect probe out (in flight or queued) for the
        probe timeout, or a probe of either lane inside libvirt (it left
        its queue, so a worker serves it) for more than the probe timeout
        plus :data:`STUCK_AFTER`: a healthy agent answers in milliseconds,
        a hung one within the timeout, so a call still inside libvirt waits
        for the guest, e.g. behind another client's agent call. A healthy
        lane probe still queued says nothing about its guest.
        """
        now = self._clock()
        timeout = self.settings.probe_timeout
        actions: list[Action] = []
        for watched in self.watched.values():
            if watched.token is None:
                continue
            verdict = kernel.waited_out(watched, now, timeout)
            if verdict is not Verdict.NONE:
                self._roster.void_probe(watched)   # judged: not waited for
                actions += [Unqueue(watched.state.uuid)] + \
                    self._act(watched, verdict)
                continue
            stuck = self._inside(watched, now) > timeout + STUCK_AFTER
            late = watched.suspect and now - watched.sent_at >= timeout
            if not (stuck or late) or watched.starvation.shields(now):
                continue
            before = watched.state.phase
            verdict = kernel.came_back(watched, watched.token, Outcome.MISS,
                                       now)
            if verdict is not Verdict.NONE:
                self._roster.void_probe(watched)   # judged: not waited for
                actions.append(Unqueue(watched.state.uuid))
            else:
                verdict = watched.state.overdue(now)
            watched.log_phase(before, 'probe inside libvirt for %.0f s'
                              % (now - watched.started_at) if stuck
                              else 'probe out after the timeout')
            actions += self._act(watched, verdict)
        if any(w.state.awaiting_sample for w in self.watched.values()):
            actions.append(self._sample())
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
        actions: list[Action] = []
        for watched in self.watched.values():
            # A guest with a longer interval of its own: every k-th tick.
            turn = cadence.turn(watched, self.policy, self._ticks)
            if turn:
                actions += self._close(watched, now)
            if watched.kdump_since is not None:
                actions += self._act(watched, kdump.check(
                    watched, now, watched.state.policy))
            if watched.limited and watched.state.reported and \
                    not watched.state.maintenance:
                # If the window allows; never while excluded (maintenance
                # or monitor: false): the report waits for its end.
                actions += self._report(watched)
            if turn and watched.state.probed and watched.token is None and \
                    not kernel.silent(watched) and (
                    not watched.state.settled or
                    cadence.settled_turn(watched, self.policy, self._ticks)):
                actions.append(self._probe(watched))
            runs, judged = app_fleet.turn(watched, self._ticks,
                                          self.policy.probe_interval,
                                          self._tokens)
            actions += runs + app_fleet.act(watched, judged, self._report)
        if self.watched:
            actions.append(self._sample())
        return actions

    def app_result(self, run: RunResult) -> list[Action]:
        """An application probe's run came back."""
        watched = self.watched.get(run.uuid)
        if watched is None:
            return []
        return app_fleet.act(watched, app_fleet.result(watched, run),
                             self._report)

    def app_started(self, uuid: str, probe: str, token: int
                    ) -> list[Action]:
        """An application probe's run execs its command now."""
        watched = self.watched.get(uuid)
        if watched is not None:
            app_fleet.started(watched, probe, token)
        return []

    def _close(self, watched: Watched, now: float) -> list[Action]:
        """The end of one of the guest's intervals."""
        # A probe still out counts as a missed interval when it went to
        # the suspect lane (in flight or waiting for a slot there) or is
        # past its deadline. A healthy-lane probe waiting behind others
        # says nothing about its guest: a hung guest's call comes back
        # as a miss after the timeout.
        outstanding = watched.token is not None and (
            watched.suspect or self._inside(watched, now)
            > self.settings.probe_timeout) and \
            not watched.starvation.shields(now)
        if watched.token is not None and watched.running and \
                now - watched.started_at > self.settings.probe_deadline:
            LOG.warning('The probe of %s (%s) is not back after %.0f s;'
                        ' abandoning it', watched.state.name,
                        watched.state.uuid, now - watched.started_at)
            watched.token = None
            outstanding = True
        before = watched.state.phase
        verdict = watched.state.interval_end(now, outstanding)
        watched.log_phase(before, 'no answer in the interval')
        return self._act(watched, verdict)

    def sampled(self, activities: list[Activity] | None) -> list[Action]:
        """One statistics sample; None if it could not be taken."""
        now = self._clock()
        # The heartbeat's age as of the call's start at the latest: a slow
        # call (one starved QEMU delays it all) does not age every stamp.
        asked, self._asked = self._asked, None
        read, read_wall = asked or (now, self._wall())
        found = {a.uuid: a for a in activities or ()}
        actions: list[Action] = []
        for uuid, watched in self.watched.items():
            activity = found.get(uuid)
            if activity is None and watched.state.awaiting_sample:
                LOG.warning('No statistics for %s (%s); its activity '
                            'counts as none', watched.state.name, uuid)
            active = watched.update_activity(activity,
                                             watched.state.work.sampled_at)
            watched.state.activity(now, active)
            watched.starvation.sample(now, activity, watched.state.name, uuid)
            before = watched.state.phase
            verdict = kernel.judge(watched, activity, read, read_wall,
                                   watched.state.policy)
            if verdict is not Verdict.NONE:
                if not (watched.token is not None and watched.running):
                    # Queued: dropped. One inside libvirt is taken when
                    # it comes back: an answer withdraws the report.
                    self._roster.void_probe(watched)
                actions.append(Unqueue(uuid))
                watched.log_phase(before, 'kernel heartbeat stale')
                actions += self._act(watched, verdict)
                continue
            if (watched.state.awaiting_sample or
                    watched.state.phase is Phase.ACTIVE) and \
                    not watched.starvation.shields(now):
                before = watched.state.phase
                verdict = watched.state.judge(now)
                watched.log_phase(before, 'activity check')
                actions += self._act(watched, verdict)
        return actions

    def _sample(self) -> Sample:
        if self._asked is None:
            self._asked = (self._clock(), self._wall())
        return Sample()

    def _probe(self, watched: Watched) -> Probe:
        watched.token = next(self._tokens)
        watched.sent_at = self._clock()
        watched.running = False
        state = watched.state
        watched.suspect = state.phase is not Phase.HEALTHY
        return Probe(state.uuid, watched.token, suspect=watched.suspect,
                     priority=state.misses + (100 if state.settled else 0),
                     osinfo=kernel.ask_os(watched, state.policy))

    def report_failed(self, notification: Notification) -> list[Action]:
        """The notification could not be spooled: decide again."""
        watched = self.watched.get(notification.instance_uuid)
        if watched is None or not watched.state.reported:
            return []
        watched.state.report_failed()
        watched.forget_report()
        return [Save()]

    def withdrawn(self, withdraw: Withdraw) -> list[Action]:
        """``withdraw`` found the instance's report still pending and
        dropped it: for maintenance, the report was never made."""
        watched = self.watched.get(withdraw.uuid)
        if watched is not None:
            app_fleet.withdrawn(watched)
        if withdraw.cause is not WithdrawCause.MAINTENANCE or \
                watched is None or not watched.state.reported:
            return []
        watched.state.report_withdrawn()
        watched.forget_report()
        return [Save()]

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
        state, wall = watched.state, self._wall()
        reason = reason or state.reason or Reason.UNRESPONSIVE
        limited = watched.limited
        if not watched.allow_report(self._clock(), wall,
                                    self.settings.max_recoveries,
                                    self.settings.recovery_window, reason):
            return [Save()] if limited else [Save(), Limited(state.uuid,
                                                             reason.value)]
        when = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
        notification = dataclasses.replace(
            Notification.create(state.uuid, self.settings.hostname, when),
            instance_name=state.name, reason=reason.value)
        return [Save(), Report(notification, dict(watched.counters),
                               tuple(watched.probes) + ((record,) if record
                                                        else ()),
                               died.of_report(watched, self._clock(),
                                              reason))]
