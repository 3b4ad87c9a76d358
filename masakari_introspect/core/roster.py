"""Who is watched: the monitored instances, kept in line with libvirt's
domain list, and what is remembered of those that are not here now.

Owned by :class:`~masakari_introspect.core.fleet.Fleet`; pure, clocks passed
in. Methods that change what survives a restart return a :class:`Save`.
"""

import dataclasses
from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core import assign
from masakari_introspect.core import holds
from masakari_introspect.core import viewing
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Persisted
from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import Verdict
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import policy_for
from masakari_introspect.core.tracker import Policy
from masakari_introspect.core.watched import Watched

LOG = logging.getLogger(__name__)

# A verdict on one instance that the fleet acts on (a failure held while it
# was excluded, reported when it is monitored again).
Judged = tuple[Watched, Verdict]
_NOTHING = Remembered(-1, False, False)


def _not_monitored(info: DomainInfo) -> None:
    LOG.debug('Domain %s (%s) has no guest agent channel; not monitored',
              info.name, info.uuid)


def new_process(uuid: str) -> Withdraw:
    """A notification pending for an earlier QEMU process of ``uuid`` is
    not about the one running now."""
    return Withdraw(uuid, 'new QEMU process', WithdrawCause.NEW_PROCESS)


class Roster:
    """Membership for :class:`~masakari_introspect.core.fleet.Fleet`, which
    builds it: ``memory`` is what the last run persisted."""

    def __init__(self, policy: Policy, settings: Settings,
                 memory: Persisted, rules: Rules,
                 clock: Callable[[], float],
                 wall: Callable[[], float]) -> None:
        self.policy = policy
        self.rules = rules
        self.settings = settings
        self._clock = clock
        self._wall = wall
        self.watched: dict[str, Watched] = {}
        self.remembered = dict(memory.records)
        self.maintenance = set(memory.maintenance)
        self.absent = dict(memory.absent)   # not on this host since (wall)

    def listed(self, domains: list[DomainInfo]
               ) -> tuple[list[Action], list[Judged]]:
        """A full listing (start-up, reconnect, periodic resync)."""
        seen = set()
        actions: list[Action] = []
        judged: list[Judged] = []
        for info in domains:
            if not info.has_agent_channel:
                if info.uuid in self.watched:
                    actions += self.forget(info.uuid, 'guest agent '
                                           'channel removed')
                else:
                    _not_monitored(info)
                continue
            seen.add(info.uuid)
            actions += self._reconcile(info, judged)
        for uuid in [u for u in self.watched if u not in seen]:
            actions += self.forget(uuid, 'domain no longer running',
                                   keep_hold=True)
        self._expire_absent()
        actions += [Lookup(u) for u, m in self.remembered.items()
                    if m.held is not None and u not in self.maintenance]
        return actions + [Save()], judged

    def _expire_absent(self) -> None:
        """Drop what is remembered of instances gone for long: an instance
        that comes back months later is monitored like a new one."""
        wall = self._wall()
        gone = (self.maintenance | set(self.remembered)) - set(self.watched)
        self.absent = {u: self.absent.get(u, wall) for u in gone}
        for uuid, since in list(self.absent.items()):
            if wall - since >= self.settings.forget_after:
                LOG.info('Instance %s has not been on this host for %.1f '
                         'days: its %s dropped', uuid, (wall - since) / 86400,
                         'maintenance flag and history are'
                         if uuid in self.maintenance else 'history is')
                self.maintenance.discard(uuid)
                self.remembered.pop(uuid, None)
                del self.absent[uuid]

    def looked_up(self, uuid: str, info: DomainInfo | None
                  ) -> tuple[list[Action], list[Judged]]:
        judged: list[Judged] = []
        memory = self.remembered.get(uuid)
        if memory is not None and memory.held is not None and \
                uuid not in self.watched and uuid not in self.maintenance \
                and (info is None or info.domain_id < 0
                     or not info.has_agent_channel):
            return self._absent_hold(uuid, info, memory, judged), judged
        if info is None or info.domain_id < 0:
            return [], judged
        if not info.has_agent_channel:
            _not_monitored(info)
            return [], judged
        return self._reconcile(info, judged), judged

    def set_rules(self, rules: Rules) -> tuple[list[Action], list[Judged]]:
        """A new policy file (SIGHUP): every instance's policy again."""
        self.rules = rules
        actions: list[Action] = []
        judged: list[Judged] = []
        for watched in self.watched.values():
            if watched.facts is not None:
                actions += self._apply_policy(watched, watched.facts, judged)
        return actions, judged

    def set_maintenance(self, instance: str, on: bool
                        ) -> tuple[str | None, list[Action], Verdict]:
        """The instance's UUID (None if unknown), what to do, and the
        verdict on its state (a failure held while in maintenance)."""
        uuid = instance if instance in self.watched else next(
            (u for u, w in self.watched.items()
             if w.state.name == instance), None)
        if uuid is None and instance in self.maintenance:
            uuid = instance
        if uuid is None:
            return None, [], Verdict.NONE
        (self.maintenance.add if on else self.maintenance.discard)(uuid)
        watched = self.watched.get(uuid)
        actions: list[Action] = [Save()]
        verdict = Verdict.NONE
        if watched is not None:
            done, verdict = assign.exclude(watched, on, self._clock())
            actions += done
        elif not on and self.remembered.get(uuid, _NOTHING).held is not None:
            actions.append(Lookup(uuid))    # still shut off by its crash?
        LOG.info('Instance %s %s maintenance', uuid,
                 'put in' if on else 'taken out of')
        return uuid, actions, verdict

    # -- helpers ---------------------------------------------------------------

    def _reconcile(self, info: DomainInfo, judged: list[Judged]
                   ) -> list[Action]:
        now = self._clock()
        watched = self.watched.get(info.uuid)
        actions: list[Action] = []
        if watched is None:
            memory = self.remembered.pop(info.uuid, None)
            policy, errors = policy_for(self.policy, self.rules, info)
            watched = Watched.found(info, memory, policy, now,
                                    info.uuid in self.maintenance
                                    or not policy.monitor,
                                    wall=self._wall())
            assign.warn(watched, errors)
            if policy.rule:
                LOG.info('Instance %s (%s) follows %s%s', info.name,
                         info.uuid, policy.rule, '' if policy.monitor
                         else ': not monitored')
            self.watched[info.uuid] = watched
            actions.append(Save())
            actions += assign.found(watched, info.uuid in self.maintenance)
            if memory is not None:
                judged.append((watched, holds.restore(watched, memory)))
            if memory is not None and memory.domain_id != info.domain_id:
                actions.append(new_process(info.uuid))
            return actions
        if watched.domain_id != info.domain_id:
            watched.domain_id = info.domain_id
            holds.void(info.name, info.uuid, watched.state.held,
                       'new QEMU process')
            watched.state.started(now)
            self.void_probe(watched)
            actions += [Save(), new_process(info.uuid)]
        self._follow(watched, info, now)
        actions += self._apply_policy(watched, info, judged)
        # Monitored again now: a resume libvirt did not tell is seen now.
        self._follow(watched, info, now)
        return actions

    def _follow(self, watched: Watched, info: DomainInfo, now: float
                ) -> None:
        """The domain paused or resumed without an event (missed)."""
        if not info.running and watched.state.probed:
            watched.state.paused(now, info.state_reason)
            self.void_probe(watched)
        elif info.running and not watched.state.probed and (
                not watched.state.maintenance
                or holds.resumed_unseen(watched)):
            watched.state.resumed(now)

    def _apply_policy(self, watched: Watched, info: DomainInfo,
                      judged: list[Judged]) -> list[Action]:
        """The policy for what is known of the domain now; its exclusion
        follows (``monitor``)."""
        watched.facts = info
        policy, errors = policy_for(self.policy, self.rules, info)
        assign.warn(watched, errors)
        if not assign.assign(watched, policy, self._clock()):
            return []
        actions, verdict = assign.exclude(
            watched, info.uuid in self.maintenance, self._clock())
        if verdict is not Verdict.NONE:
            judged.append((watched, verdict))
        return actions

    def forget(self, uuid: str, why: str, withdraw: bool = True,
               keep_hold: bool = False) -> list[Action]:
        """``uuid`` is not monitored here any more; a failure held in the
        operator's maintenance outlives it if ``keep_hold`` (a stop by the
        failure, a stop not seen)."""
        watched = self.watched.pop(uuid, None)
        if watched is None:
            return []
        LOG.info('No longer monitoring %s (%s): %s', watched.state.name,
                 uuid, why)
        # What outlives this QEMU process: known agent, recent reports, a
        # failure held in maintenance.
        self.remembered[uuid] = holds.left(
            watched, watched.remembered(domain_id=-1), why,
            keep_hold and uuid in self.maintenance)
        actions: list[Action] = [Save()]
        if withdraw:
            actions.append(Withdraw(uuid, 'left the host: ' + why,
                                    WithdrawCause.LEFT_HOST))
        return actions

    def _absent_hold(self, uuid: str, info: DomainInfo | None,
                     memory: Remembered, judged: list[Judged]
                     ) -> list[Action]:
        """A failure held for an instance not running here, looked up
        when its maintenance ended: reported if it still holds."""
        policy = self.policy if info is None else \
            policy_for(self.policy, self.rules, info)[0]
        self.remembered[uuid], watched = holds.absent(
            uuid, info, memory, policy, self._clock(), self._wall())
        if watched is not None and memory.held is not None:
            judged.append((watched, watched.state.report(memory.held)))
        return [Save()]

    def settle(self, watched: Watched) -> None:
        """After a verdict on an instance not running here: keep what
        became of it (its report), or the hold on, to be looked up again
        at the next listing, if the recovery limit held the report back."""
        if watched.state.uuid not in self.watched:
            self.remembered[watched.state.uuid] = holds.settled(watched)

    def report_failed(self, uuid: str) -> list[Action]:
        """The report of an instance not running here could not be kept:
        its failure is held again, looked up at the next listing."""
        record = self.remembered.get(uuid)
        if uuid in self.watched or record is None or not record.reported:
            return []
        self.remembered[uuid] = holds.unreported(record)
        return [Save()]

    @staticmethod
    def void_probe(watched: Watched) -> None:
        """The probe out, if any, says nothing any more."""
        watched.token = None

    # -- views -----------------------------------------------------------------

    def records(self) -> dict[str, Remembered]:
        records = dict(self.remembered)
        records.update((u, w.remembered()) for u, w in self.watched.items())
        return records

    def snapshot(self) -> list[InstanceStatus]:
        now, wall = self._clock(), self._wall()
        # The operator's maintenance, not an exclusion by policy.
        views = [dataclasses.replace(viewing.view(w, now),
                                     maintenance=u in self.maintenance)
                 for u, w in sorted(self.watched.items(),
                                    key=lambda item: item[1].state.name)]
        return views + [
            viewing.absent_view(u, wall - self.absent.get(u, wall))
            for u in sorted(self.maintenance - set(self.watched))]

