"""Per-instance failure detection: a pure state machine.

No I/O and no clock of its own: every method takes ``now`` (monotonic
seconds). The fleet feeds it libvirt events, probe outcomes, guest activity
and the end of each probe interval, and acts on the :class:`Verdict`. The
rules (missed intervals, the activity check, failure pauses, crashes and
watchdogs, grace and boot hangs, maintenance) are described in
``doc/source/design.rst``, "Verdicts".
"""

import dataclasses

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict

FAILURE_PAUSES = ('ioerror', 'watchdog', 'api_error', 'crashed')


@dataclasses.dataclass(frozen=True)
class Policy:
    failure_threshold: int = 3
    boot_grace_period: float = 120.0
    report_agent_never_answered: bool = False
    probe_interval: float = 10.0
    activity_check: bool = True

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError('failure_threshold must be at least 1')
        if self.boot_grace_period < 0:
            raise ValueError('boot_grace_period must not be negative')

    @property
    def window(self) -> float:
        """The failure window: threshold x interval."""
        return self.failure_threshold * self.probe_interval


class InstanceState:
    """Failure bookkeeping for one instance (one libvirt domain)."""

    def __init__(self, uuid: str, name: str, policy: Policy, now: float, *,
                 answered: bool = False, reported: bool = False,
                 known: bool = False) -> None:
        self.uuid = uuid
        self.name = name
        self.policy = policy
        self.misses = 0
        self.answered = answered    # the agent answered since domain start
        self.known = known or answered   # ... or in an earlier boot here
        self.warned = False         # NEVER_ANSWERED said for this start
        self.last_success: float | None = None
        self.reported = reported    # this failure episode was reported
        self.reason: Reason | None = None
        self.phase = Phase.FAILED if reported else Phase.GRACE
        self.grace_until = now + policy.boot_grace_period
        self.maintenance = False
        self.interval_start = now
        self._answered_now = False  # an answer in the current interval
        self._counted = False       # the current interval's miss counted
        self.first_miss: float | None = None
        self.pause_since: float | None = None
        self.last_activity: float | None = None
        self.awaiting_sample = False

    # -- the operator --------------------------------------------------------

    def set_maintenance(self, on: bool, now: float) -> None:
        if on == self.maintenance:
            return
        self.maintenance = on
        self._reset_count()
        if not on and self.phase not in (Phase.PAUSED, Phase.FAILURE_PAUSE):
            self.resumed(now)

    # -- libvirt events ------------------------------------------------------

    def started(self, now: float) -> None:
        """A new QEMU process: everything learnt before is void."""
        self.answered = False
        self.warned = False
        self.reported = False
        self.reason = None
        self._enter_grace(now)

    def rebooted(self, now: float) -> None:
        """The guest restarted inside the same QEMU process: its agent has
        to answer again (a known agent that does not is a boot hang)."""
        self.answered = False
        self.warned = False
        self.resumed(now)

    def resumed(self, now: float) -> None:
        """Resumed, rebooted, migrated in, or agent reconnected."""
        self.pause_since = None
        if self.reported:
            # The report stands until the agent answers: a resume or an
            # agent reconnect is no proof of recovery.
            self.phase = Phase.FAILED
            self._reset_count()
            return
        self._enter_grace(now)

    def paused(self, now: float, why: str = '') -> None:
        """Suspended; ``why`` is libvirt's reason (e.g. 'ioerror')."""
        self._reset_count()
        if why in FAILURE_PAUSES:
            if self.phase is not Phase.FAILURE_PAUSE:
                self.pause_since = now
            self.phase = Phase.FAILURE_PAUSE
            self.reason = Reason.FAILURE_PAUSE
            return
        self.phase = Phase.PAUSED
        self.pause_since = None

    def agent_gone(self, now: float) -> None:
        """The agent closed its port: its state changed, so a new interval
        starts now (an answer before the event does not cover it)."""
        self.interval_start = now
        self._answered_now = False
        self._counted = False

    def connection_lost(self) -> None:
        """Misses seen so far may have been the connection's fault."""
        if self.phase in (Phase.FAILING, Phase.ACTIVE):
            self.phase = Phase.HEALTHY
        self._reset_count()

    def crashed(self) -> Verdict:
        """A guest kernel panic reported by a pvpanic device."""
        return self._report(Reason.CRASHED)

    def watchdog_fired(self) -> Verdict:
        """A watchdog expired and its action left the guest as it is."""
        return self._report(Reason.WATCHDOG)

    # -- probe outcomes ------------------------------------------------------

    def success(self, now: float) -> Verdict:
        recovered = self.misses > 0 or self.reported or (
            self.phase in (Phase.NO_AGENT, Phase.ACTIVE))
        self.answered = True
        self.known = True
        self.reported = False
        self.reason = None
        self.last_success = now
        self._answered_now = True
        self._reset_count()
        self.phase = Phase.HEALTHY
        return Verdict.RECOVERED if recovered else Verdict.NONE

    def miss(self, now: float, reason: Reason) -> Verdict:
        """A probe came back without an answer."""
        if not self.counting(now):
            return self._grace_check(now)
        self.reason = reason
        if self._counted or self._answered_now:
            return Verdict.NONE
        return self._count(now)

    def interval_end(self, now: float, outstanding: bool) -> Verdict:
        """Close the current probe interval; ``outstanding`` is True when
        a probe of this instance is still in flight or queued."""
        verdict = Verdict.NONE
        was_awaiting = self.awaiting_sample
        if self.phase is Phase.FAILURE_PAUSE:
            if not self.reported and now - (
                    self.pause_since or now) >= self.policy.window:
                verdict = self._report(Reason.FAILURE_PAUSE)
        else:
            if outstanding and not self._counted and not self._answered_now:
                verdict = self._count(now) if self.counting(now) \
                    else self._grace_check(now)
            if verdict is Verdict.NONE and (
                    was_awaiting or self.phase is Phase.ACTIVE):
                # A whole interval without statistics counts as inactive.
                verdict = self.judge(now)
        self.interval_start = now
        self._answered_now = False
        self._counted = False
        return verdict

    def overdue(self, now: float) -> Verdict:
        """A probe of this interval is out longer than the probe timeout
        (a healthy agent answers in milliseconds): the interval is missed
        now, without waiting for its end."""
        if self._counted or self._answered_now or \
                self.phase is Phase.FAILURE_PAUSE:
            return Verdict.NONE
        return self._count(now) if self.counting(now) \
            else self._grace_check(now)

    def activity(self, now: float, active: bool) -> None:
        """A statistics sample: did the guest work since the last one?"""
        if active:
            self.last_activity = now

    def judge(self, now: float) -> Verdict:
        """Decide a failed agent: failed guest, or a guest that works."""
        self.awaiting_sample = False
        if self.phase is Phase.FAILED or self.reported:
            return Verdict.NONE
        active = self.policy.activity_check and self.first_miss is not None \
            and self.last_activity is not None \
            and self.last_activity > self.first_miss
        if not active:
            reason = Reason.INACTIVE if self.phase is Phase.ACTIVE \
                else (self.reason or Reason.UNRESPONSIVE)
            return self._report(reason)
        assert self.last_activity is not None
        if now - self.last_activity >= self.policy.window:
            return self._report(Reason.INACTIVE)
        if self.phase is not Phase.ACTIVE:
            self.phase = Phase.ACTIVE
            return Verdict.ACTIVE
        return Verdict.NONE

    # -- queries -------------------------------------------------------------

    @property
    def probed(self) -> bool:
        return self.phase not in (Phase.PAUSED, Phase.FAILURE_PAUSE) \
            and not self.maintenance

    @property
    def settled(self) -> bool:
        """Judged already: probed less often, to spare the others."""
        return self.phase in (Phase.FAILED, Phase.NO_AGENT)

    def counting(self, now: float) -> bool:
        if self.maintenance or self.phase in (
                Phase.PAUSED, Phase.FAILURE_PAUSE, Phase.NO_AGENT,
                Phase.FAILED):
            return False
        return not (self.phase is Phase.GRACE and (
            now < self.grace_until or not self.answered))

    # -- internals -----------------------------------------------------------

    def _enter_grace(self, now: float) -> None:
        self.phase = Phase.GRACE
        self._reset_count()
        self.grace_until = now + self.policy.boot_grace_period

    def _reset_count(self) -> None:
        self.misses = 0
        self.first_miss = None
        self.awaiting_sample = False
        self._counted = False

    def _grace_check(self, now: float) -> Verdict:
        """In grace: once it ends without any answer, decide once."""
        if self.phase is not Phase.GRACE or now < self.grace_until \
                or self.answered or self.maintenance:
            return Verdict.NONE
        first = not self.warned
        self.warned = True
        if self.known and first:
            return self._report(Reason.BOOT_HANG)
        if self.policy.report_agent_never_answered:
            self.phase = Phase.FAILING   # counted from now on
            verdict = self._count(now)
            return Verdict.NEVER_ANSWERED \
                if verdict is Verdict.NONE and first else verdict
        self.phase = Phase.NO_AGENT
        self._reset_count()
        return Verdict.NEVER_ANSWERED if first else Verdict.NONE

    def _count(self, now: float) -> Verdict:
        self.misses += 1
        self._counted = True
        if self.first_miss is None:
            self.first_miss = self.interval_start
        if self.reason is None:
            self.reason = Reason.UNRESPONSIVE
        if self.phase is Phase.ACTIVE:
            return Verdict.NONE
        if self.misses < self.policy.failure_threshold:
            self.phase = Phase.FAILING
            return Verdict.NONE
        if self.policy.activity_check:
            self.phase = Phase.FAILING
            self.awaiting_sample = True   # judged on the next sample
            return Verdict.NONE
        return self.judge(now)

    def _report(self, reason: Reason) -> Verdict:
        if self.reported:
            return Verdict.NONE
        self.reason = reason
        self.phase = Phase.FAILED
        self.reported = True
        self.awaiting_sample = False
        return Verdict.REPORT
