"""The owner thread: carries the fleet's decisions out.

One thread owns the :class:`~masakari_introspect.core.fleet.Fleet`: libvirt
events, probe results, statistics, ticks and resyncs are queued to it and
handled in order, so no state is shared between threads. It carries out the
actions the fleet returns: probes go to the dispatcher (the probe lanes),
the bulk statistics call and the vCPU statistics call to a worker each
(a late heartbeat's sample of a few guests, at its moment, to the bulk
call's worker),
reports to the outbox (spool and sender) and to the forensics recorder; it
never sends anything itself.
"""

import concurrent.futures
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Lookup
from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Sample
from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.actions import SampleLater
from masakari_introspect.core.actions import SampleVcpus
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import Unqueue
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.app_run import AppRun
from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import HypervisorUnavailable
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.runtime.reporter import Forensics
from masakari_introspect.runtime.reporter import Observer
from masakari_introspect.runtime.reporter import Reporter
from masakari_introspect.recovery.outbox import Outbox
from masakari_introspect.core.probing import STUCK_AFTER
from masakari_introspect.runtime.app_runs import AgentExec
from masakari_introspect.runtime.app_runs import AppRunner
from masakari_introspect.runtime.dispatch import Dispatcher
from masakari_introspect.runtime.hypervisor import Hypervisor
from masakari_introspect.runtime.hypervisor import Prober
from masakari_introspect.runtime.lanes import Lane
from masakari_introspect.runtime.scheduler import Alarm
from masakari_introspect.runtime.store import StateStore

LOG = logging.getLogger(__name__)

OVERDUE_MARGIN = 0.25   # seconds after the probe timeout


class Monitor:
    def __init__(self, hypervisor: Hypervisor, fleet: Fleet, outbox: Outbox,
                 *, probe_timeout: int, prober: Prober, lane_size: int = 4,
                 suspect_lane_size: int = 4,
                 store: StateStore | None = None,
                 observer: Observer | None = None,
                 forensics: Forensics | None = None,
                 suspect_prober: Prober | None = None,
                 agent_exec: AgentExec | None = None,
                 app_slots: int = 1) -> None:
        self._hypervisor = hypervisor
        self.fleet = fleet
        self._store = store
        self._observer = observer
        self._reporter = Reporter(outbox, forensics, observer)
        self._timeout = probe_timeout
        self._inbox: queue.SimpleQueue[tuple[Callable[..., Any],
                                             tuple[Any, ...]]] = \
            queue.SimpleQueue()
        self._probes = Dispatcher(
            timeout=probe_timeout,
            stuck_after=probe_timeout + STUCK_AFTER + OVERDUE_MARGIN,
            prober=prober, suspect_prober=suspect_prober,
            lane_size=lane_size, suspect_lane_size=suspect_lane_size,
            app_slots=app_slots,
            started=lambda uuid, token: self._post(self.fleet.started, uuid,
                                                   token),
            finished=lambda result, token: self._post(self._on_result,
                                                      result, token),
            overdue=lambda: self._post(self.fleet.overdue))
        # The two statistics calls each have a thread: the vCPU call must
        # not wait behind a bulk call that a starved QEMU holds up.
        self._stats_lanes = {'bulk': Lane('statistics', 1),
                             'vcpu': Lane('vcpu-statistics', 1)}
        # A late heartbeat's sample (SampleLater): the fleet is asked which
        # guests are due when the moment comes; their call (SampleGuests)
        # runs on the bulk call's lane, in order with the bulk calls.
        self._rechecks = Alarm('heartbeat-recheck',
                               lambda: self._post(self.fleet.recheck))
        self._recheck_keys = itertools.count()
        # Application probes' calls: spare jobs of the healthy lane.
        self._apps = AppRunner(
            agent_exec, self._probes.healthy,
            lambda run: self._post(self.fleet.app_result, run),
            started=lambda app: self._post(self.fleet.app_started, app.uuid,
                                           app.probe.name, app.token))
        self._reading: set[str] = set()   # statistics calls not back yet
        self._unsaved = False    # the fleet said Save; not written yet
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread-safe entry points (any thread) -------------------------------

    def post_event(self, event: DomainEvent) -> None:
        self._post(self.fleet.event, event)

    def post_connection(self, up: bool) -> None:
        self._post(self._on_connection, up)

    def tick(self) -> None:
        self._post(self.fleet.tick)
        # Soon after the probes went out: those not back yet are overdue.
        timer = threading.Timer(self._timeout + OVERDUE_MARGIN, self._post,
                                args=(self.fleet.overdue,))
        timer.daemon = True
        timer.start()

    def resync(self) -> None:
        self._post(self._on_resync)

    def set_rules(self, rules: Rules) -> None:
        """The policy file was read again (SIGHUP)."""
        self._post(self.fleet.set_rules, rules)

    def calls(self) -> dict[str, tuple[int, int]]:
        """Agent calls in flight and queued, per lane (any thread);
        application probes' calls apart from the healthy lane's."""
        return self._probes.calls()

    def query(self, func: Callable[..., Any], *args: Any
              ) -> 'concurrent.futures.Future[Any]':
        """Run ``func`` on the owner thread; its result in a Future."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(func(*args))
                except Exception as exc:
                    future.set_exception(exc)

        self._inbox.put((run, ()))
        return future

    def set_maintenance(self, instance: str, on: bool
                        ) -> 'concurrent.futures.Future[Any]':
        """Exclude an instance (UUID or name) from monitoring, or include
        it again; persisted. The Future gives the UUID, or None if unknown.
        """
        return self.query(self._set_maintenance, instance, on)

    def snapshot(self) -> list[InstanceStatus]:
        """Owner thread only: call through query()."""
        return self.fleet.snapshot()

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='monitor',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop probing; wait up to ``timeout`` s for probes in flight.

        The state is saved by the owner thread itself as its last act, never
        from here: if it does not end in time, nothing else touches it.
        """
        deadline = time.monotonic() + timeout
        self._inbox.put((self._halt, ()))
        self._probes.stop_watching()
        self._rechecks.close()
        self._apps.close()    # runs in flight are forgotten
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.1))
            if self._thread.is_alive():
                LOG.warning('The monitor thread did not stop within %.0f s; '
                            'its state is saved as of its last burst',
                            timeout)
        for lane in (self._probes.healthy, self._probes.suspect,
                     *self._stats_lanes.values(), self._reporter.lane):
            if not lane.close(max(deadline - time.monotonic(), 0)):
                LOG.warning('Probes still in flight after %.0f s; not '
                            'waiting for them', timeout)

    def _post(self, handler: Callable[..., Any], *args: Any) -> None:
        self._inbox.put((handler, args))

    def _halt(self) -> None:
        self._stopped.set()
        self._unsaved = True
        self._flush()

    def _run(self) -> None:
        while not self._stopped.is_set():
            handler, args = self._inbox.get()
            try:
                actions = handler(*args)
                if isinstance(actions, list):
                    self._carry_out(actions)
                if self._unsaved and self._inbox.empty():
                    self._flush()   # once per burst: many may fail at once
            except Exception:
                LOG.exception('Error while handling %s',
                              getattr(handler, '__name__', handler))
        LOG.debug('Monitor thread stopped')

    # -- handlers (owner thread only) ----------------------------------------

    def _on_resync(self) -> list[Action]:
        try:
            domains = self._hypervisor.list_domains()
        except HypervisorUnavailable as exc:
            LOG.debug('Resync skipped: %s', exc)
            return []
        return self.fleet.listed(domains)

    def _on_connection(self, up: bool) -> list[Action]:
        if up:
            LOG.info('libvirt connection up; resyncing %d instance(s)',
                     len(self.fleet.watched))
            return self._on_resync()
        return self.fleet.connection(False)

    def _on_result(self, result: ProbeResult, token: int
                   ) -> list[Action]:
        if self._observer is not None:
            self._observer.probe_finished(result)
        return self.fleet.result(result, token)

    def _on_read(self, call: str, handle: Callable[[Any], list[Action]],
                 found: Any) -> list[Action]:
        self._reading.discard(call)
        return handle(found)

    def _set_maintenance(self, instance: str, on: bool) -> str | None:
        uuid, actions = self.fleet.set_maintenance(instance, on)
        self._carry_out(actions)
        self._flush()
        return uuid

    # -- actions (owner thread only) -------------------------------------------

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Probe):
                self._probes.dispatch(action)
            elif isinstance(action, Lookup):
                self._lookup(action.uuid)
            elif isinstance(action, Sample):
                self._read('bulk', self._hypervisor.activity,
                           self.fleet.sampled)
            elif isinstance(action, SampleLater):
                self._rechecks.set(next(self._recheck_keys), action.at)
            elif isinstance(action, SampleGuests):
                self._read_guests(action.uuids)
            elif isinstance(action, SampleVcpus):
                self._read('vcpu', self._hypervisor.vcpus,
                           self.fleet.vcpus_sampled)
            elif isinstance(action, Report):
                if not self._reporter.report(action):
                    self._carry_out(
                        self.fleet.report_failed(action.notification))
            elif isinstance(action, Withdraw):
                if self._reporter.withdraw(action):
                    self._carry_out(self.fleet.withdrawn(action))
            elif isinstance(action, Limited) and \
                    self._observer is not None:
                self._observer.limit_reached(action.uuid, action.reason)
            elif isinstance(action, Save):
                self._unsaved = True
            elif isinstance(action, AppRun):
                self._apps.run(action)
            elif isinstance(action, Unqueue):
                self._probes.drop(action.uuid)
                self._apps.drop(action.uuid)

    def _lookup(self, uuid: str) -> None:
        try:
            info = self._hypervisor.domain_info(uuid)
        except HypervisorUnavailable:
            return
        self._carry_out(self.fleet.looked_up(uuid, info))

    def _read(self, call: str, read: Callable[[], Any],
              handle: Callable[[Any], list[Action]]) -> None:
        """One statistics call (``bulk`` or ``vcpu``) on its own thread;
        ``handle`` takes its answer (None if it failed) on the owner
        thread."""
        if call in self._reading:
            return   # the last one is not back yet: it will do
        self._reading.add(call)

        def run() -> None:
            try:
                found = read()
            except Exception:
                LOG.exception('Cannot read guest statistics (%s call)', call)
                found = None
            self._post(self._on_read, call, handle, found)

        self._stats_lanes[call].submit(run, key=call)

    def _read_guests(self, uuids: tuple[str, ...]) -> None:
        """The statistics of ``uuids`` alone, on the bulk call's thread:
        after a bulk call asked before, never beside one (both read the
        balloon through the domain's job), and answered in that order."""
        def run() -> None:
            # The vCPU figures first: a starved guest's QEMU answers the
            # balloon late, and its starvation is what they tell.
            try:
                vcpus = self._hypervisor.vcpus()
            except Exception:
                LOG.exception('Cannot read the vCPU figures of %d guest(s)',
                              len(uuids))
                vcpus = None
            try:
                found = self._hypervisor.guests_activity(uuids)
            except Exception:
                LOG.exception('Cannot read the statistics of %d guest(s)',
                              len(uuids))
                found = None
            self._post(self.fleet.guests_sampled, uuids, found, vcpus)

        self._stats_lanes['bulk'].submit(
            run, key='guests-%d' % next(self._recheck_keys))

    def _flush(self) -> None:
        if not self._unsaved or self._store is None:
            return
        self._unsaved = False
        state = self.fleet.persisted()
        try:
            self._store.save(state.records, state.maintenance, state.absent)
        except OSError as exc:
            LOG.error('Cannot save state to disk: %s', exc)
            self._unsaved = True
