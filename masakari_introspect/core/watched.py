"""One monitored instance: its state machine and the fleet's bookkeeping
around it (probe token, recent probes, activity counters, reports)."""

import collections
from typing import Any

from oslo_log import log as logging

from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.application import GuestApps
from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.model import Activity
from masakari_introspect.core.starvation import Starvation
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Reason
from masakari_introspect.core.tracker import InstanceState
from masakari_introspect.core.model import Phase
from masakari_introspect.core.tracker import Policy
from masakari_introspect.core.model import Verdict

LOG = logging.getLogger(__name__)

PROBES_KEPT = 10    # recent probe results, for forensics


# One report: (monotonic time, wall-clock time). The storm limit counts on
# the monotonic one; the wall-clock one is what the state file keeps.
Stamp = tuple[float, float]


def recent(stamps: tuple[Stamp, ...], now: float, window: float
           ) -> tuple[Stamp, ...]:
    """The reports within ``window`` seconds before ``now`` (monotonic)."""
    return tuple(s for s in stamps if now - s[0] < window)


def from_disk(walls: tuple[float, ...], now: float, wall: float
              ) -> tuple[Stamp, ...]:
    """Wall-clock report times read back after a restart, as stamps.

    A time from the future (the wall clock stepped back meanwhile) counts as
    now: a clock step never lengthens the window.
    """
    clamped = (min(w, wall) for w in walls)
    return tuple((now - (wall - w), w) for w in clamped)


class Watched:
    def __init__(self, state: InstanceState, domain_id: int) -> None:
        self.state = state
        self.domain_id = domain_id
        self.token: int | None = None     # the probe in flight or queued
        self.sent_at = 0.0                 # queued at
        self.started_at = 0.0              # left its queue at
        self.running = False
        self.suspect = False               # ... on the suspect lane
        self.last_report: float | None = None  # wall clock
        self.reports: tuple[Stamp, ...] = ()   # recent
        self.limited = False           # recovery limit reached: report held
        self.limit_hits = 0
        self.watchdog_recoveries = 0
        self.probes: collections.deque[dict[str, Any]] = \
            collections.deque(maxlen=PROBES_KEPT)
        self.counters: dict[str, int] = {}
        self._activity_known = False
        self.heartbeat = Heartbeat()
        self.starvation = Starvation(state.policy.starvation_grace)
        self.kdump_since: float | None = None   # crash loaded at
        self.kdump_reset = False    # ... and the guest reset since
        self.apps = GuestApps(state.uuid, state.name)   # application probes
        # What its policy was chosen by (name, Nova's metadata, its own
        # <policy>), and what was wrong in its <policy> (warned once).
        self.facts: DomainInfo | None = None
        self.policy_warnings: tuple[str, ...] = ()
        self.kernel_waits: int | None = None   # kernel verdict awaits probe
        self.unanswered_at: float | None = None   # last probe without answer
        self.port_closed_at: float | None = None  # the guest closed the
        # agent's port (reason channel), not reopened since (monotonic)
        self.port_reason: str | None = None   # ... its event's reason (None:
        # no event seen since the port was open, e.g. after a restart)

    @classmethod
    def found(cls, info: DomainInfo, memory: Remembered | None,
              policy: Policy, now: float, maintenance: bool,
              wall: float | None = None) -> 'Watched':
        same = memory is not None and memory.domain_id == info.domain_id
        # Without a memory of it, an agent that has its port open is taken
        # as one that works: if it does not answer after the grace, it is a
        # hang, not an image without an agent.
        state = InstanceState(
            info.uuid, info.name, policy, now,
            answered=memory.answered if memory and same
            else info.agent_connected,
            reported=bool(memory and same and memory.reported),
            known=bool(memory and memory.known))
        watched = cls(state, info.domain_id)
        watched.facts = info
        if memory is not None:
            watched.reports = from_disk(memory.reports, now,
                                        now if wall is None else wall)
            # A report held by the limit is sent when the window allows,
            # if the guest is still failed (same QEMU process, reported).
            watched.limited = memory.limited and state.reported
        state.set_maintenance(maintenance, now)
        LOG.info('Monitoring instance %s (%s)%s', info.name, info.uuid,
                 ', already reported before a restart'
                 if state.reported else '')
        if info.blind_spots and policy.activity_check:
            LOG.info('Instance %s (%s) has %s: libvirt counts none of its '
                     'disk or network work, so the activity check cannot '
                     'clear it; its agent alone decides', info.name,
                     info.uuid, ', '.join(b.value for b in info.blind_spots))
        if not info.running:
            state.paused(now, info.state_reason)
        if state.reported and memory is not None and memory.reason:
            state.reason = memory.reason    # what the report said
        return watched

    def remembered(self, domain_id: int | None = None) -> Remembered:
        return Remembered(self.domain_id if domain_id is None else domain_id,
                          self.state.answered, self.state.reported,
                          self.state.known, tuple(w for _m, w in self.reports),
                          self.limited, self.state.held,
                          self.state.reason if self.state.reported
                          else None)

    def remember_probe(self, result: ProbeResult, wall: float) -> None:
        self.probes.append({'time': round(wall, 3),
                            'outcome': result.outcome.value,
                            'detail': result.detail,
                            'duration': round(result.duration, 3),
                            'error_code': result.error_code})

    def forget_report(self) -> None:
        """The last report could not be kept: it does not count."""
        self.reports = self.reports[:-1]

    def update_activity(self, activity: Activity | None,
                        since: float | None = None) -> bool:
        """Take a sample covering the time from ``since`` (the previous
        sample); True if the guest worked since the last one. Its work
        counts as "since the failure" only if the span starts after the
        first missed interval did."""
        if activity is None:
            self._activity_known = False
            return False
        before = dict(self.counters)
        self.counters = {'disk_requests': activity.disk_requests,
                         'packets_sent': activity.packets_sent}
        known, self._activity_known = self._activity_known, True
        if not known:
            self.counters['disk_requests_since_failure'] = 0
            self.counters['packets_sent_since_failure'] = 0
            return False
        delta_disk = activity.disk_requests - before['disk_requests']
        delta_net = activity.packets_sent - before['packets_sent']
        first_miss = self.state.first_miss
        if first_miss is None:
            self.counters['disk_requests_since_failure'] = 0
            self.counters['packets_sent_since_failure'] = 0
        elif since is None or since < first_miss:
            for key in ('disk_requests_since_failure',
                        'packets_sent_since_failure'):
                self.counters[key] = before.get(key, 0)
        else:
            self.counters['disk_requests_since_failure'] = \
                before.get('disk_requests_since_failure', 0) + max(delta_disk, 0)
            self.counters['packets_sent_since_failure'] = \
                before.get('packets_sent_since_failure', 0) + max(delta_net, 0)
        return delta_disk > 0 or delta_net > 0

    def moved(self, activity: Activity) -> bool:
        """``activity``'s counters differ from the last sample's (or that
        one had none)."""
        return not self._activity_known or \
            activity.disk_requests != self.counters.get('disk_requests') or \
            activity.packets_sent != self.counters.get('packets_sent')

    def describe_activity(self) -> str:
        return '%d disk requests, %d packets sent' % (
            self.counters.get('disk_requests_since_failure', 0),
            self.counters.get('packets_sent_since_failure', 0))

    def allow_report(self, now: float, wall: float, max_reports: int,
                     window: float, reason: Reason | None = None) -> bool:
        """Within the recovery limit (counted on the monotonic ``now``)?
        Records the report if so."""
        state = self.state
        reason = reason or state.reason
        self.reports = recent(self.reports, now, window)
        if len(self.reports) >= max_reports:
            if not self.limited:
                LOG.error('Instance %s (%s) failed (%s), but it was reported '
                          '%d times in the last %.0f s: recovery limit '
                          'reached; not reporting it', state.name,
                          state.uuid, reason.value if reason else '?',
                          len(self.reports), window)
                self.limited = True
                self.limit_hits += 1
            return False
        if self.limited:
            LOG.info('Instance %s (%s): the recovery window allows a report '
                     'again', state.name, state.uuid)
            self.limited = False
        self.reports += ((now, wall),)
        self.last_report = wall
        return True

    def say(self, verdict: Verdict, policy: Policy, now: float) -> None:
        """Log a verdict that is not a report."""
        state = self.state
        if verdict is Verdict.ACTIVE and state.booting:
            LOG.warning('Instance %s (%s) is booting for %.0f s, agent '
                        'silent, guest active: %s; not reporting it while '
                        'it works', state.name, state.uuid,
                        state.booting_for(now), self.describe_activity())
        elif verdict is Verdict.HELD:
            LOG.info('Instance %s (%s) failed (%s) while in maintenance: '
                     'not reported', state.name, state.uuid,
                     state.reason.value if state.reason else '?')
        elif verdict is Verdict.ACTIVE:
            LOG.warning('The agent of instance %s (%s) is unresponsive for '
                        '%.0f s, but the guest is active: %s; not reporting '
                        'it while it works', state.name, state.uuid,
                        now - (state.first_miss or now),
                        self.describe_activity())
        elif verdict is Verdict.NEVER_ANSWERED:
            LOG.warning('The guest agent of instance %s (%s) has not answered '
                        'since the domain started, %d s ago or more; %s',
                        state.name, state.uuid, policy.boot_grace_period,
                        'counting its misses as failures'
                        if policy.report_agent_never_answered else
                        'not reporting it (report_agent_never_answered is '
                        'off)')
        elif verdict is Verdict.RECOVERED:
            LOG.info('Instance %s (%s) answers again', state.name,
                     state.uuid)
            self.limited = False

    def log_phase(self, before: Phase, why: str) -> None:
        after = self.state.phase
        if after is not before:
            LOG.info('Instance %s (%s): %s -> %s (%s)', self.state.name,
                     self.state.uuid, before.value, after.value, why)
