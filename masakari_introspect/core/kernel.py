"""Kernel dead: a stale heartbeat with no answer and no work since.

Called by the fleet for every monitored instance on each statistics sample
(:func:`judge`), and asked before each probe (:func:`silent`). Pure; see
:mod:`masakari_introspect.core.heartbeat` for the heartbeat itself.
"""

from oslo_log import log as logging

from masakari_introspect.core import agent_loss
from masakari_introspect.core.agent_loss import CHANNEL
from masakari_introspect.core.heartbeat import WINDOWS
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# Events after which the stamp says nothing until it changes again.
RESETS = frozenset((EventKind.STARTED, EventKind.REBOOTED, EventKind.PAUSED,
                    EventKind.MIGRATING, EventKind.SHUTTING_DOWN,
                    EventKind.RESUMED, EventKind.CRASHED,
                    EventKind.CRASH_LOADED))
_NOT_RUNNING = (Phase.PAUSED, Phase.FAILURE_PAUSE)
_NEW_AGENT = (EventKind.AGENT_CONNECTED, EventKind.STARTED,
              EventKind.REBOOTED)
# A guest whose agent closed its port (reason channel) at most
# SHUTDOWN_SPAN seconds before its heartbeat's next beat was due is going
# down (a shutdown or reboot from inside stops the agent, then the kernel
# shuts its devices down): the verdict waits up to SHUTDOWN_WAIT seconds
# after the heartbeat went stale for the reset or stop event, which a loaded
# host may deliver seconds after the last stamp.
SHUTDOWN_SPAN = 30.0
SHUTDOWN_WAIT = 10.0
# Probe outcomes that bring no answer from a running guest.
_NO_ANSWER = (Outcome.MISS, Outcome.DISCONNECTED, Outcome.BUSY,
              Outcome.ERROR)


def ask_os(watched: Watched, policy: Policy) -> bool:
    """Whether a probe should also ask the agent its OS: once per agent
    connection (until an answer tells, or says it cannot)."""
    return policy.kernel_heartbeat and not watched.heartbeat.os_asked


def os_told(watched: Watched, os_id: str | None) -> None:
    """A probe's answer to :func:`ask_os` (None: not asked). The OS known
    before holds until an answer names another one: a new connection of
    a Windows guest's agent that has not told yet (or cannot tell: '')
    leaves it Windows."""
    heartbeat, state = watched.heartbeat, watched.state
    if os_id is None:
        return
    heartbeat.os_asked = True
    if not os_id or os_id == heartbeat.os_id:
        return
    if heartbeat.os_id == WINDOWS:
        # Its stamp was not followed meanwhile: learned from scratch.
        heartbeat.reset()
        LOG.info('Instance %s (%s) no longer runs Windows (%s): its kernel '
                 'heartbeat is learned again', state.name, state.uuid, os_id)
    heartbeat.os_id = os_id
    if os_id == WINDOWS:
        heartbeat.reset()
        watched.kernel_waits = None
        LOG.info('Instance %s (%s) runs Windows: its balloon statistics come '
                 'from a user-mode service, so they are no kernel heartbeat;'
                 ' it is judged by its agent', state.name, state.uuid)


def agent_connected(watched: Watched, kind: EventKind) -> None:
    """A new agent connection (or QEMU process, or reset): its OS is asked
    again (the one known holds until told), and a port closed before is open again."""
    if kind in _NEW_AGENT:
        watched.heartbeat.os_asked = False
        watched.port_closed_at = watched.port_reason = None


def port_closed(watched: Watched, detail: str, now: float) -> None:
    """The agent disconnected event: the guest closed the port (reason
    channel), as its agent does when it stops at a shutdown or reboot."""
    watched.port_closed_at = now if detail == CHANNEL else None
    watched.port_reason = detail


def judge(watched: Watched, activity: Activity | None, now: float,
          wall: float, policy: Policy, decide: bool = True) -> Verdict:
    """Take the sample's heartbeat (after its activity was taken); report a
    dead kernel: stale, and no agent answer and no work since its next
    beat was due (``decide`` False: the heartbeat only, no verdict)."""
    state, heartbeat = watched.state, watched.heartbeat
    if not policy.kernel_heartbeat or activity is None \
            or state.phase in _NOT_RUNNING or heartbeat.os_id == WINDOWS:
        return Verdict.NONE
    went = heartbeat.sample(now, wall, activity.heartbeat,
                            activity.heartbeat_period)
    if activity.heartbeat_period <= 0:
        agent_loss.heartbeat_gone(watched, now, 'its balloon statistics '
                                  'are off')
    elif activity.heartbeat is not None and not heartbeat.live \
            and not heartbeat.learning(now):
        # Learned again (another period, a clock step) and not moved
        # since within 2 x period + 1 s: no sign the kernel lives (a
        # sample without a stamp says nothing either way).
        agent_loss.heartbeat_gone(watched, now, 'its kernel heartbeat, '
                                  'learned again, has not moved')
    if not decide:
        return Verdict.NONE
    return _decide(watched, now, went)


def came_back(watched: Watched, token: int, outcome: Outcome,
              now: float) -> Verdict:
    """The probe ``token`` came back (or is overdue: ``outcome`` MISS).
    If a stale heartbeat's verdict waited for it and it brought no answer,
    decide now."""
    if outcome in _NO_ANSWER:    # sent_at: of this probe
        watched.unanswered_at = watched.sent_at
    if watched.kernel_waits is None or watched.kernel_waits != token:
        return Verdict.NONE
    watched.kernel_waits = None
    if outcome not in _NO_ANSWER:
        return Verdict.NONE    # an answer (the next sample sees it), a job
    return _decide(watched, now, False, probe_back=True)


def waited_out(watched: Watched, now: float, timeout: float) -> Verdict:
    """The probe a stale heartbeat's verdict waits for is still queued
    (not inside libvirt) ``timeout`` seconds after it was sent: a live
    agent's answer is not waited for longer (at scale, dead kernels' probes
    queue behind each other for the worker budget); decide now."""
    if watched.kernel_waits is None or watched.kernel_waits != watched.token \
            or watched.running or now - watched.sent_at < timeout:
        return Verdict.NONE
    watched.kernel_waits = None
    return _decide(watched, now, False, probe_back=True)


def _decide(watched: Watched, now: float, went: bool,
            probe_back: bool = False) -> Verdict:
    state, heartbeat = watched.state, watched.heartbeat
    since = heartbeat.missed_since
    # In maintenance the agent is not asked: its silence is no evidence.
    # The policy may have turned the heartbeat off while a verdict waited.
    if since is None or not state.policy.kernel_heartbeat \
            or state.reported or state.maintenance \
            or state.held is not None or state.phase is Phase.KDUMP \
            or watched.starvation.shields(now):
        watched.kernel_waits = None
        return Verdict.NONE
    answered = state.last_success is not None and state.last_success >= since
    # Work in the span just sampled may be from after its next beat was
    # due: a busy guest is judged once a span passes without work.
    if answered or state.work.after(since) or state.work.recent:
        watched.kernel_waits = None
        if went:
            LOG.info('The kernel heartbeat of instance %s (%s) is %.0f s old,'
                     ' but the guest %s since: not a dead kernel',
                     state.name, state.uuid, heartbeat.age() or 0,
                     'answered' if answered else 'worked')
        return Verdict.NONE
    closed = watched.port_closed_at
    if closed is not None and since - closed <= SHUTDOWN_SPAN \
            and now - (heartbeat.stale_since or now) < SHUTDOWN_WAIT:
        # Going down: the reset or stop event is waited for, bounded.
        if went:
            LOG.info('The kernel heartbeat of instance %s (%s) is %.0f s '
                     'old; its agent closed its port %.0f s before: a '
                     'shutdown or reboot from inside, waiting up to %.0f s '
                     'for the guest to reset or stop', state.name,
                     state.uuid, heartbeat.age() or 0, max(since - closed, 0),
                     SHUTDOWN_WAIT)
        watched.kernel_waits = None
        return Verdict.NONE
    refused = watched.unanswered_at is not None and \
        watched.unanswered_at >= since
    if not probe_back and not refused and watched.token is not None \
            and watched.sent_at >= since:
        # A probe sent after the beat was due is still out (queued for the
        # budget, or handled after this sample): its answer may yet come;
        # unless one sent since then already came back without one.
        if watched.kernel_waits != watched.token:
            LOG.info('The kernel heartbeat of instance %s (%s) is %.0f s '
                     'old; waiting for its agent\'s answer to a probe sent '
                     'since', state.name, state.uuid, heartbeat.age() or 0)
        watched.kernel_waits = watched.token
        return Verdict.NONE
    watched.kernel_waits = None
    LOG.warning('The kernel heartbeat of instance %s (%s) stopped %.0f s ago '
                '(statistics period %d s); no agent answer and no disk or '
                'network work since: its kernel is dead', state.name,
                state.uuid, heartbeat.age() or 0, heartbeat.period)
    return state.kernel_hung()


def silent(watched: Watched) -> bool:
    """Judged dead by its heartbeat, which is still stale: no agent call
    (it would only hold a libvirtd worker until its timeout)."""
    return watched.heartbeat.stale and \
        watched.state.reason is Reason.KERNEL_HUNG
