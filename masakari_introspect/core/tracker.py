"""Per-instance failure detection: a pure state machine.

:class:`InstanceState` is one instance's state, and what libvirt events,
the agent's answers and the operator (maintenance) do to it: they start
and end its grace, pauses and failure episodes. How its missed intervals
are counted and judged is :mod:`masakari_introspect.core.misses`. No I/O
and no clock of its own: every method takes ``now`` (monotonic seconds).
The fleet acts on the :class:`Verdict`. The rules (missed intervals, the
activity check, failure pauses, crashes and watchdogs, grace and boot
hangs, maintenance) are described in ``doc/source/design.rst``, "Verdicts".
"""

from masakari_introspect.core.evidence import Job
from masakari_introspect.core.evidence import Work
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy

__all__ = ['InstanceState', 'Policy']

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
        self.interval_answered = False   # an answer in the current interval
        self.interval_counted = False    # the current interval's miss counted
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
        self.reset_count()
        if on:
            return Verdict.NONE
        held, self.held = self.held, None
        if self.phase not in (Phase.PAUSED, Phase.FAILURE_PAUSE):
            self.resumed(now)
        if held is not None:
            return self.report(held)
        if self.phase is Phase.FAILURE_PAUSE and self.paused_too_long(now):
            return self.report(Reason.FAILURE_PAUSE)
        return Verdict.NONE

    def restore_hold(self, reason: Reason) -> Verdict:
        """A failure held before a restart, for this same QEMU process:
        held on while excluded, reported now if the exclusion ended while
        the service was down."""
        if not self.maintenance:
            return self.report(reason)
        self.held = self.reason = reason
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
            self.reset_count()
            return
        if self.answered and self.end_job():
            # A job paused the guest for a while (the end of a live dump,
            # a snapshot): no boot; its misses count from now, and a job
            # after it has the whole allowance.
            self.domain_job.clear()
            self.phase = Phase.HEALTHY
            self.open_interval(now)
            return
        self._enter_grace(now)

    def paused(self, now: float, why: PauseReason = PauseReason.NONE
               ) -> None:
        """Suspended; ``why`` is libvirt's reason. A domain job that
        pauses the guest still holds it."""
        self.reset_count()
        if why.failure:
            self.end_job()
            if self.phase is not Phase.FAILURE_PAUSE:
                self.pause_since = now
            self.phase = Phase.FAILURE_PAUSE
            # A reported episode keeps its reason (what a report held by
            # the recovery limit says when it is sent).
            kept = self.reason if self.reported else None
            self.reason = self.held or kept or Reason.FAILURE_PAUSE
            return
        self.phase = Phase.PAUSED
        self.pause_since = None

    def agent_gone(self, now: float) -> None:
        """The agent closed its port: its state changed, so a new interval
        starts now (an answer before the event does not cover it)."""
        self.open_interval(now)

    def connection_lost(self) -> None:
        """Misses seen so far may have been the connection's fault."""
        if self.phase in (Phase.FAILING, Phase.ACTIVE):
            self.phase = Phase.HEALTHY
        self.reset_count()

    def crashed(self) -> Verdict:
        """A guest kernel panic reported by a pvpanic device."""
        return self.report(Reason.CRASHED)

    def agent_lost(self) -> None:
        """The agent closed its port while the kernel lives: its misses
        do not count until it answers again."""
        self.reset_count()
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
        self.reset_count()
        self.phase = Phase.HEALTHY
        self.open_interval(now)

    def crash_loaded(self) -> None:
        """The kernel panicked and a crash kernel writes its dump: misses
        do not count until it shows life again (or the fleet times it
        out)."""
        self.reset_count()
        self.reason = None
        self.phase = Phase.KDUMP

    def kernel_hung(self) -> Verdict:
        """The kernel heartbeat went stale with no answer and no work."""
        return self.report(Reason.KERNEL_HUNG)

    def watchdog_fired(self) -> Verdict:
        """A watchdog expired and its action left the guest as it is."""
        return self.report(Reason.WATCHDOG)

    # -- the agent's answers, samples and the report -------------------------

    def success(self, now: float) -> Verdict:
        """The agent answered: the failure episode, if any, is over."""
        recovered = self.misses > 0 or self.reported or (
            self.phase in (Phase.NO_AGENT, Phase.ACTIVE))
        self.answered = True
        self.known = True
        self.reported = False
        self.reason = None
        self.held = None
        self.booting = False
        self.last_success = now
        self.interval_answered = True
        self.reset_count()
        self.domain_job.clear()
        if self.phase is not Phase.KDUMP:   # the fleet ends that wait
            self.phase = Phase.HEALTHY
        return Verdict.RECOVERED if recovered else Verdict.NONE

    def activity(self, now: float, active: bool) -> None:
        """A statistics sample: did the guest work since the last one?"""
        self.work.sample(now, active)

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

    def booting_for(self, now: float) -> float:
        """Seconds since the grace began (a start, reboot or resume)."""
        return now - (self.grace_until - self.policy.boot_grace_period)

    # -- for the miss rules (core/misses.py) ---------------------------------

    def open_interval(self, now: float) -> None:
        """A new probe interval starts now: not answered, not counted."""
        self.interval_start = now
        self.interval_answered = False
        self.interval_counted = False

    def reset_count(self) -> None:
        """No missed interval counts (any more) in this episode."""
        self.misses = 0
        self.first_miss = None
        self.awaiting_sample = False
        self.interval_counted = False

    def end_job(self) -> bool:
        """True if a domain job held the guest and is over now: its misses
        count again, from none."""
        if not self.domain_job.end():
            return False
        self.reset_count()
        return True

    def paused_too_long(self, now: float) -> bool:
        """A failure pause lasts a whole failure window."""
        return now - (self.pause_since or now) >= self.policy.window

    def report(self, reason: Reason) -> Verdict:
        """The guest failed for ``reason``: report it once (in maintenance,
        hold it for its end)."""
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

    # -- internals -----------------------------------------------------------

    def _enter_grace(self, now: float) -> None:
        self.phase = Phase.GRACE
        self.booting = False
        self.held = None
        self.domain_job.clear()
        self.reset_count()
        self.grace_until = now + self.policy.boot_grace_period
