"""Missed intervals: how one instance's are counted and judged.

A probe that comes back without an answer, one out too long, and the end
of each probe interval count a missed interval; a domain job holds the
count for a while; the end of the grace decides an agent that never
answered, or a known one silent since the boot (a boot hang); the failure
window missed, the activity check judges: a failed guest, or one that
works. The rules are in ``doc/source/design.rst``, "Verdicts".

Functions over an :class:`~masakari_introspect.core.tracker.InstanceState`,
whose events and answers start and end its episodes; pure, every function
takes ``now`` (monotonic seconds).
"""

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.tracker import InstanceState

# An interval this long (x probe_interval) means the owner thread or the
# host stood still: its missing statistics sample says nothing of the guest.
STALLED = 1.5


def counts(state: InstanceState, now: float) -> bool:
    """Misses count now: monitored, running, its agent expected to answer,
    and out of its grace."""
    if state.maintenance or state.phase in (
            Phase.PAUSED, Phase.FAILURE_PAUSE, Phase.NO_AGENT,
            Phase.FAILED, Phase.AGENT_LOST, Phase.KDUMP):
        return False
    return not (state.phase is Phase.GRACE and (
        now < state.grace_until or not state.answered))


def miss(state: InstanceState, now: float, reason: Reason) -> Verdict:
    """A probe came back without an answer (and no job holds it)."""
    if state.end_job():
        state.open_interval(now)   # misses count from now: a fresh window
    return _miss(state, now, reason)


def job(state: InstanceState, now: float) -> Verdict:
    """No answer, and a domain job (migration, dump, save, backup,
    snapshot) holds the running domain: not counted, for at most
    ``job_grace_max`` seconds in all until the agent answers again."""
    if state.domain_job.seen(now):
        return Verdict.NONE
    return _miss(state, now, Reason.UNRESPONSIVE)


def interval_end(state: InstanceState, now: float, outstanding: bool,
                 judging: bool = True) -> Verdict:
    """Close the current probe interval; ``outstanding`` is True when a
    probe of this instance is still in flight or queued; ``judging``
    False while a judgement must wait (the guest is starved of CPU)."""
    verdict = Verdict.NONE
    was_awaiting = state.awaiting_sample
    if state.phase is Phase.FAILURE_PAUSE:
        if not state.reported and state.paused_too_long(now):
            verdict = state.report(Reason.FAILURE_PAUSE)
    else:
        if outstanding and _open(state) and \
                not state.domain_job.shields(now):
            verdict = _count(state, now) if counts(state, now) \
                else _grace_end(state, now)
        stalled = now - state.interval_start > \
            STALLED * state.policy.probe_interval
        if verdict is Verdict.NONE and not stalled and judging and (
                was_awaiting or state.phase is Phase.ACTIVE):
            # A whole interval without statistics counts as inactive
            # (unless nobody asked for one: the sample due now judges).
            verdict = judge(state, now)
    state.open_interval(now)
    return verdict


def overdue(state: InstanceState, now: float) -> Verdict:
    """A probe of this interval is out longer than the probe timeout (a
    healthy agent answers in milliseconds): the interval is missed now,
    without waiting for its end."""
    if not _open(state) or state.domain_job.shields(now) or \
            state.phase is Phase.FAILURE_PAUSE:
        return Verdict.NONE
    return _count(state, now) if counts(state, now) \
        else _grace_end(state, now)


def judge(state: InstanceState, now: float) -> Verdict:
    """Decide a failed agent: failed guest, or a guest that works."""
    state.awaiting_sample = False
    if state.phase is Phase.FAILED or state.reported or state.maintenance:
        return Verdict.NONE
    policy, work = state.policy, state.work
    active = policy.activity_check and state.first_miss is not None \
        and work.after(state.first_miss)
    if state.booting:
        idle = Reason.BOOT_HANG
    else:
        idle = Reason.INACTIVE if state.phase is Phase.ACTIVE \
            else (state.reason or Reason.UNRESPONSIVE)
    if not active:
        return state.report(idle)
    if work.idle_for(now) >= policy.window:
        return state.report(Reason.BOOT_HANG if state.booting
                            else Reason.INACTIVE)
    if state.phase is not Phase.ACTIVE:
        state.phase = Phase.ACTIVE
        return Verdict.ACTIVE
    return Verdict.NONE


def _open(state: InstanceState) -> bool:
    """The current interval is neither answered nor counted yet."""
    return not state.interval_counted and not state.interval_answered


def _miss(state: InstanceState, now: float, reason: Reason) -> Verdict:
    if not counts(state, now):
        return _grace_end(state, now)
    if not state.booting:
        state.reason = reason
    if not _open(state):
        return Verdict.NONE
    return _count(state, now)


def _grace_end(state: InstanceState, now: float) -> Verdict:
    """In grace: once it ends without any answer, decide once."""
    if state.phase is not Phase.GRACE or now < state.grace_until \
            or state.answered or state.maintenance:
        return Verdict.NONE
    if state.known:
        # Every grace of a known agent ends in a judgement (also one
        # that follows a resume or maintenance after a boot hang).
        return _boot_hang(state, now)
    first = not state.warned
    state.warned = True
    if state.policy.report_agent_never_answered:
        state.phase = Phase.FAILING   # counted from now on
        verdict = _count(state, now)
        return Verdict.NEVER_ANSWERED \
            if verdict is Verdict.NONE and first else verdict
    state.phase = Phase.NO_AGENT
    state.reset_count()
    return Verdict.NEVER_ANSWERED if first else Verdict.NONE


def _boot_hang(state: InstanceState, now: float) -> Verdict:
    """A known agent silent after the grace: a hang unless the guest
    worked within the last failure window (an fsck, updates)."""
    policy = state.policy
    if not policy.activity_check:
        return state.report(Reason.BOOT_HANG)
    state.booting = True
    state.reason = Reason.BOOT_HANG
    state.phase = Phase.FAILING
    state.misses = policy.failure_threshold
    state.first_miss = now - policy.window
    state.interval_counted = True
    state.awaiting_sample = True    # judged on the next sample
    return Verdict.NONE


def _count(state: InstanceState, now: float) -> Verdict:
    state.misses += 1
    state.interval_counted = True
    if state.first_miss is None:
        state.first_miss = state.interval_start
    if state.reason is None:
        state.reason = Reason.UNRESPONSIVE
    if state.phase is Phase.ACTIVE:
        return Verdict.NONE
    if state.misses < state.policy.failure_threshold:
        state.phase = Phase.FAILING
        return Verdict.NONE
    if state.policy.activity_check:
        state.phase = Phase.FAILING
        state.awaiting_sample = True   # judged on the next sample
        return Verdict.NONE
    return judge(state, now)
