"""Per-instance failure detection: a pure state machine.

No I/O and no clock of its own: every method takes ``now`` (monotonic
seconds). The fleet feeds it libvirt events, probe outcomes, guest activity
and the end of each probe interval, and acts on the :class:`Verdict`. The
rules (missed intervals, the activity check, failure pauses, crashes and
watchdogs, grace and boot hangs, maintenance) are described in
``doc/source/design.rst``, "Verdicts".
"""

from masakari_introspect.core.evidence import Job
from masakari_introspect.core.evidence import Work
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy

__all__ = ['InstanceState', 'Policy']

# An interval this long (x probe_interval) means the owner thread or the
# host stood still: its missing statistics sample says nothing of the guest.
STALLED = 1.5
# Failures an event tells: they hold until the guest is started again.
_TOLD = (Reason.CRASHED, Reason.WATCHDOG, Reason.FAILURE_PAUSE)


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
        self.held: Reason | None = None   # a failure seen in maintenance
        self.booting = False        # a known agent silent after the grace
        self.domain_job = Job(policy.job_grace_max)
        self.work = Work()          # the guest's own work, from samples
        self.interval_start = now
        self._answered_now = False  # an answer in the current interval
        self._counted = False       # the current interval's miss counted
        self.first_miss: float | None = None
        self.pause_since: float | None = None
        self.awaiting_sample = False

    # -- the operator --------------------------------------------------------

    def set_maintenance(self, on: bool, now: float) -> Verdict:
        """In maintenance nothing is reported; a failure that still holds
        when it ends (crashed, failure pause) is reported then."""
        if on == self.maintenance:
            return Verdict.NONE
        self.maintenance = on
        self.domain_job.clear()    # not probed meanwhile: a new allowance
        self._reset_count()
        if on:
            return Verdict.NONE
        held, self.held = self.held, None
        if self.phase not in (Phase.PAUSED, Phase.FAILURE_PAUSE):
            self.resumed(now)
        if held is not None:
            return self._report(held)
        if self.phase is Phase.FAILURE_PAUSE and self._paused_too_long(now):
            return self._report(Reason.FAILURE_PAUSE)
        return Verdict.NONE

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
        self.held = None
        if self.reported:
            # The report stands until the agent answers: a resume or an
            # agent reconnect is no proof of recovery.
            self.phase = Phase.FAILED
            self._reset_count()
            return
        if self.answered and self._end_job():
            # A job paused the guest for a while (the end of a live dump,
            # a snapshot): no boot; its misses count from now, and a job
            # after it has the whole allowance.
            self.domain_job.clear()
            self.phase = Phase.HEALTHY
            self.interval_start = now
            self._answered_now = False
            return
        self._enter_grace(now)

    def paused(self, now: float, why: PauseReason = PauseReason.NONE
               ) -> None:
        """Suspended; ``why`` is libvirt's reason. A domain job that
        pauses the guest still holds it."""
        self._reset_count()
        if why.failure:
            self._end_job()
            if self.phase is not Phase.FAILURE_PAUSE:
                self.pause_since = now
            self.phase = Phase.FAILURE_PAUSE
            self.reason = self.held or Reason.FAILURE_PAUSE
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

    def agent_lost(self) -> None:
        """The agent closed its port while the kernel lives: its misses
        do not count until it answers again."""
        self._reset_count()
        self.reason = None
        self.phase = Phase.AGENT_LOST

    def threshold_changed(self) -> None:
        """The policy's failure_threshold changed: misses below the new
        one are no failure yet, and no judgement waits on them."""
        if self.booting or self.phase not in (Phase.FAILING, Phase.ACTIVE) \
                or self.misses >= self.policy.failure_threshold:
            return
        self.phase = Phase.FAILING
        self.awaiting_sample = False

    def agent_counts(self, now: float) -> None:
        """A lost agent's misses count again (its policy changed to
        report it): from a new interval, as a healthy agent's."""
        if self.phase is not Phase.AGENT_LOST:
            return
        self._reset_count()
        self.phase = Phase.HEALTHY
        self.interval_start = now
        self._answered_now = False

    def crash_loaded(self) -> None:
        """The kernel panicked and a crash kernel writes its dump: misses
        do not count until it shows life again (or the fleet times it
        out)."""
        self._reset_count()
        self.reason = None
        self.phase = Phase.KDUMP

    def kernel_hung(self) -> Verdict:
        """The kernel heartbeat went stale with no answer and no work."""
        return self._report(Reason.KERNEL_HUNG)

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
        self.held = None
        self.booting = False
        self.last_success = now
        self._answered_now = True
        self._reset_count()
        self.domain_job.clear()
        if self.phase is not Phase.KDUMP:   # the fleet ends that wait
            self.phase = Phase.HEALTHY
        return Verdict.RECOVERED if recovered else Verdict.NONE

    def miss(self, now: float, reason: Reason) -> Verdict:
        """A probe came back without an answer (and no job holds it)."""
        if self._end_job():
            # Misses count from now: a fresh failure window.
            self.interval_start = now
            self._answered_now = False
        return self._miss(now, reason)

    def job(self, now: float) -> Verdict:
        """No answer, and a domain job (migration, dump, save, backup,
        snapshot) holds the running domain: not counted, for at most
        ``job_grace_max`` seconds in all until the agent answers again."""
        if self.domain_job.seen(now):
            return Verdict.NONE
        return self._miss(now, Reason.UNRESPONSIVE)

    def interval_end(self, now: float, outstanding: bool) -> Verdict:
        """Close the current probe interval; ``outstanding`` is True when
        a probe of this instance is still in flight or queued."""
        verdict = Verdict.NONE
        was_awaiting = self.awaiting_sample
        if self.phase is Phase.FAILURE_PAUSE:
            if not self.reported and self._paused_too_long(now):
                verdict = self._report(Reason.FAILURE_PAUSE)
        else:
            if outstanding and not self._counted and not self._answered_now \
                    and not self.domain_job.shields(now):
                verdict = self._count(now) if self.counting(now) \
                    else self._grace_check(now)
            stalled = now - self.interval_start > \
                STALLED * self.policy.probe_interval
            if verdict is Verdict.NONE and not stalled and (
                    was_awaiting or self.phase is Phase.ACTIVE):
                # A whole interval without statistics counts as inactive
                # (unless nobody asked for one: the sample due now judges).
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
                self.domain_job.shields(now) or \
                self.phase is Phase.FAILURE_PAUSE:
            return Verdict.NONE
        return self._count(now) if self.counting(now) \
            else self._grace_check(now)

    def activity(self, now: float, active: bool) -> None:
        """A statistics sample: did the guest work since the last one?"""
        self.work.sample(now, active)

    def judge(self, now: float) -> Verdict:
        """Decide a failed agent: failed guest, or a guest that works."""
        self.awaiting_sample = False
        if self.phase is Phase.FAILED or self.reported or self.maintenance:
            return Verdict.NONE
        active = self.policy.activity_check and self.first_miss is not None \
            and self.work.after(self.first_miss)
        if self.booting:
            idle = Reason.BOOT_HANG
        else:
            idle = Reason.INACTIVE if self.phase is Phase.ACTIVE \
                else (self.reason or Reason.UNRESPONSIVE)
        if not active:
            return self._report(idle)
        if self.work.idle_for(now) >= self.policy.window:
            return self._report(Reason.BOOT_HANG if self.booting
                                else Reason.INACTIVE)
        if self.phase is not Phase.ACTIVE:
            self.phase = Phase.ACTIVE
            return Verdict.ACTIVE
        return Verdict.NONE

    def report_withdrawn(self) -> None:
        """The report was withdrawn before it was sent (the instance was
        put in maintenance): nothing was reported. A failure an event told
        (crash, watchdog, failure pause) is held for the end of maintenance;
        a silent agent is judged again then, on fresh evidence."""
        if not self.reported:
            return
        self.reported = False
        if self.reason in _TOLD:
            self.held = self.reason

    def report_failed(self) -> None:
        """The report could not be kept: decide again."""
        if self.reported:
            self.reported = False
            self.phase = Phase.FAILING

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
                Phase.FAILED, Phase.AGENT_LOST, Phase.KDUMP):
            return False
        return not (self.phase is Phase.GRACE and (
            now < self.grace_until or not self.answered))

    def booting_for(self, now: float) -> float:
        """Seconds since the grace began (a start, reboot or resume)."""
        return now - (self.grace_until - self.policy.boot_grace_period)

    # -- internals -----------------------------------------------------------

    def _end_job(self) -> bool:
        if not self.domain_job.end():
            return False
        self._reset_count()
        return True

    def _paused_too_long(self, now: float) -> bool:
        return now - (self.pause_since or now) >= self.policy.window

    def _enter_grace(self, now: float) -> None:
        self.phase = Phase.GRACE
        self.booting = False
        self.held = None
        self.domain_job.clear()
        self._reset_count()
        self.grace_until = now + self.policy.boot_grace_period

    def _reset_count(self) -> None:
        self.misses = 0
        self.first_miss = None
        self.awaiting_sample = False
        self._counted = False

    def _miss(self, now: float, reason: Reason) -> Verdict:
        if not self.counting(now):
            return self._grace_check(now)
        if not self.booting:
            self.reason = reason
        if self._counted or self._answered_now:
            return Verdict.NONE
        return self._count(now)

    def _grace_check(self, now: float) -> Verdict:
        """In grace: once it ends without any answer, decide once."""
        if self.phase is not Phase.GRACE or now < self.grace_until \
                or self.answered or self.maintenance:
            return Verdict.NONE
        if self.known:
            # Every grace of a known agent ends in a judgement (also one
            # that follows a resume or maintenance after a boot hang).
            return self._boot_hang(now)
        first = not self.warned
        self.warned = True
        if self.policy.report_agent_never_answered:
            self.phase = Phase.FAILING   # counted from now on
            verdict = self._count(now)
            return Verdict.NEVER_ANSWERED \
                if verdict is Verdict.NONE and first else verdict
        self.phase = Phase.NO_AGENT
        self._reset_count()
        return Verdict.NEVER_ANSWERED if first else Verdict.NONE

    def _boot_hang(self, now: float) -> Verdict:
        """A known agent silent after the grace: a hang unless the guest
        worked within the last failure window (an fsck, updates)."""
        if not self.policy.activity_check:
            return self._report(Reason.BOOT_HANG)
        self.booting = True
        self.reason = Reason.BOOT_HANG
        self.phase = Phase.FAILING
        self.misses = self.policy.failure_threshold
        self.first_miss = now - self.policy.window
        self._counted = True
        self.awaiting_sample = True    # judged on the next sample
        return Verdict.NONE

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
        if self.maintenance:
            # Never reported in maintenance: said once, kept for its end.
            if self.held is not None:
                return Verdict.NONE
            self.held = self.reason = reason
            self.awaiting_sample = False
            return Verdict.HELD
        self.reason = reason
        self.phase = Phase.FAILED
        self.reported = True
        self.awaiting_sample = False
        return Verdict.REPORT
