"""What one libvirt event does to the instance it is about.

Part of :class:`~masakari_introspect.core.fleet.Fleet`, which handles the
events that change membership (stopped, undefined, metadata changed, an
unknown domain) and carries out the verdict; pure, the clock passed in.
"""

from oslo_log import log as logging

from masakari_introspect.core import agent_loss
from masakari_introspect.core import app_fleet
from masakari_introspect.core import holds
from masakari_introspect.core import kdump
from masakari_introspect.core import kernel
from masakari_introspect.core import outcomes
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Save
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.roster import Roster
from masakari_introspect.core.roster import new_process
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

_PAUSING = (EventKind.PAUSED, EventKind.MIGRATING, EventKind.SHUTTING_DOWN)
_RESUMING = (EventKind.RESUMED, EventKind.REBOOTED, EventKind.AGENT_CONNECTED)
# Watchdog actions that leave the guest as it is: a failure now.
_WATCHDOG_STUCK = ('none', 'pause', 'debug')
# A stop that is the guest's failure: its report stands.
FAILED_STOPS = ('crashed', 'failed')


def apply(watched: Watched, event: DomainEvent, now: float
          ) -> tuple[Verdict, list[Action]]:
    """Apply ``event`` to ``watched``: its verdict, and what to save or
    withdraw (a new QEMU process)."""
    state, before = watched.state, watched.state.phase
    had_job, held = state.domain_job.held, state.held
    verdict = Verdict.NONE
    saved: list[Action] = []
    if event.kind is EventKind.STARTED:
        state.started(now)
        Roster.void_probe(watched)
        if event.domain_id >= 0:
            if event.domain_id != watched.domain_id:
                saved.append(new_process(event.uuid))
            watched.domain_id = event.domain_id
        saved.append(Save())
    elif event.kind in _PAUSING:
        state.paused(now, event.pause)
        Roster.void_probe(watched)
    elif event.kind is EventKind.REBOOTED:
        state.rebooted(now)
        Roster.void_probe(watched)
    elif event.kind in _RESUMING:
        state.resumed(now)
        Roster.void_probe(watched)
    elif event.kind is EventKind.AGENT_DISCONNECTED:
        state.agent_gone(now)
        kernel.port_closed(watched, event.detail, now)
        agent_loss.disconnected(watched, event, watched.state.policy)
    elif event.kind is EventKind.CRASHED:
        verdict = state.crashed()
    elif event.kind is EventKind.CRASH_LOADED:
        kdump.loaded(watched, now, watched.state.policy)
    elif event.kind is EventKind.WATCHDOG:
        if event.detail in _WATCHDOG_STUCK:
            verdict = state.watchdog_fired()
        else:
            LOG.warning('The watchdog of instance %s (%s) expired; '
                        'its action (%s) already recovers the guest: '
                        'not reported', state.name, state.uuid,
                        event.detail)
            watched.watchdog_recoveries += 1
    app_fleet.event(watched, event.kind)
    kernel.agent_connected(watched, event.kind)
    if event.kind in kernel.RESETS:
        watched.heartbeat.reset(now)
        kdump.reset_seen(watched, event.kind)
    if state.held is None and verdict is Verdict.NONE:
        holds.void(state.name, state.uuid, held, 'new QEMU process'
                   if event.kind is EventKind.STARTED else event.kind.value)
    if had_job:
        outcomes.say_job_ended(watched)
    watched.log_phase(before, event.kind.value)
    return verdict, saved
