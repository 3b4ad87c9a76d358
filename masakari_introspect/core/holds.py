"""A failure held while an instance is excluded, and what becomes of it.

A crash, a watchdog or a failure pause that an event tells while the
instance is excluded (the operator's maintenance, a policy with ``monitor:
false``) is held (:attr:`InstanceState.held`) and reported once when the
exclusion ends. The hold is about one QEMU process: it is persisted with
the instance's domain id, restored after a restart for that same id, and
void for another one (someone started the guest again). A guest destroyed
by its crash (``on_crash=destroy``) in maintenance keeps its hold while it
is not on this host; when maintenance ends it is looked up, and reported if
libvirt still shows it shut off by a crash (void if undefined, started
again or shut off otherwise). Used by the roster and the events; pure.
"""

import dataclasses

from oslo_log import log as logging

from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.tracker import InstanceState
from masakari_introspect.core.watched import Watched
from masakari_introspect.core.watched import from_disk

LOG = logging.getLogger(__name__)

# Failures that leave the guest not running (a crash preserved, a failure
# pause): found running in the same QEMU process, it was resumed or reset.
_STOPPING = (Reason.CRASHED, Reason.FAILURE_PAUSE)
_PAUSES = (Phase.PAUSED, Phase.FAILURE_PAUSE)


def void(name: str, uuid: str, held: Reason | None, why: str) -> None:
    """Say that the failure held for an instance (if any) is void."""
    if held is not None:
        LOG.info('Instance %s (%s): its held failure (%s) is void: %s; it '
                 'will not be reported', name, uuid, held.value, why)


def restore(watched: Watched, memory: Remembered) -> Verdict:
    """The failure held before a restart, if it is about this QEMU
    process: held on, or reported now if no longer excluded."""
    state = watched.state
    if memory.held is None:
        return Verdict.NONE
    if memory.domain_id != watched.domain_id:
        void(state.name, state.uuid, memory.held, 'new QEMU process (domain '
             'id %d, was %d)' % (watched.domain_id, memory.domain_id))
        return Verdict.NONE
    if memory.held in _STOPPING and watched.facts is not None \
            and watched.facts.running:
        void(state.name, state.uuid, memory.held, 'running again (resumed '
             'or reset while the service was down)')
        return Verdict.NONE
    if not state.maintenance:
        LOG.info('Instance %s (%s): its exclusion ended while the service '
                 'was down; reporting the failure (%s) held then',
                 state.name, state.uuid, memory.held.value)
    return state.restore_hold(memory.held)


def resumed_unseen(watched: Watched) -> bool:
    """An excluded instance that a listing or lookup shows running while
    its record has it paused: resumed (or reset) without an event seen, so
    a failure held for the pause is void."""
    state = watched.state
    if state.phase not in _PAUSES:
        return False
    void(state.name, state.uuid, state.held, 'running again (a resume or '
         'reset no event told)')
    return True


def left(watched: Watched, record: Remembered, why: str, kept: bool
         ) -> Remembered:
    """``record`` of an instance that is no longer on this host, for
    ``why``: its hold is kept only if ``kept`` (a stop by the failure, or
    one not seen, in the operator's maintenance), void otherwise."""
    if record.held is None or kept:
        return record
    void(watched.state.name, watched.state.uuid, record.held, why)
    return dataclasses.replace(record, held=None)


def absent(uuid: str, info: DomainInfo | None, memory: Remembered,
           policy: Policy, now: float, wall: float
           ) -> tuple[Remembered, Watched | None]:
    """A held failure of an instance not running here, whose exclusion
    ended: looked up, ``info`` is what libvirt has of it (None: undefined).
    The record to keep, and the instance to report if the failure still
    holds (shut off by a crash)."""
    held = memory.held
    rest = dataclasses.replace(memory, held=None)
    if held is None:
        return memory, None
    if info is None:
        void('(undefined)', uuid, held, 'undefined')
        return rest, None
    if info.domain_id >= 0:
        void(info.name, uuid, held, 'running without a guest agent channel')
        return rest, None
    if not policy.monitor:
        void(info.name, uuid, held, 'not monitored (%s)' % (
            policy.rule or 'the configuration'))
        return rest, None
    if info.state_reason is not PauseReason.CRASHED:
        void(info.name, uuid, held, 'shut off, not by a crash')
        return rest, None
    LOG.info('Instance %s (%s) is still shut off by the failure (%s) held '
             'while it was in maintenance: reporting it', info.name, uuid,
             held.value)
    state = InstanceState(uuid, info.name, policy, now, known=memory.known)
    watched = Watched(state, -1)
    watched.reports = from_disk(memory.reports, now, wall)
    watched.limited = memory.limited    # said once already
    return rest, watched


def settled(watched: Watched) -> Remembered:
    """The record of an instance not on this host after its held failure
    was judged: reported, or, if the recovery limit held the report back,
    held on (looked up again at each listing until the window allows it;
    void if the guest is started again meanwhile)."""
    record = watched.remembered()
    state = watched.state
    if not watched.limited or not state.reported:
        return record
    return dataclasses.replace(record, reported=False, held=state.reason,
                               reason=None)


def unreported(record: Remembered) -> Remembered:
    """``record`` of an instance not on this host whose report could not
    be kept: the report does not count, its failure is held again."""
    return dataclasses.replace(record, reported=False, held=record.reason,
                               reason=None, reports=record.reports[:-1])
