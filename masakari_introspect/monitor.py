"""The wiring: events and probe results in, decisions out.

One thread owns all per-instance state: libvirt events, probe results, ticks
and resyncs are queued to it and handled in order, so no state is shared
between threads. Probes run on the probe lanes; notifications are handed to
the outbox (spool and sender) and never sent from here.
"""

import concurrent.futures
import dataclasses
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from oslo_log import log as logging

from masakari_introspect.model import DomainEvent
from masakari_introspect.model import DomainInfo
from masakari_introspect.model import EventKind
from masakari_introspect.model import HypervisorUnavailable
from masakari_introspect.model import Notification
from masakari_introspect.model import Outcome
from masakari_introspect.model import ProbeResult
from masakari_introspect.scheduler import ProbeLane
from masakari_introspect.store import Remembered
from masakari_introspect.store import StateStore
from masakari_introspect.tracker import InstanceState
from masakari_introspect.tracker import Phase
from masakari_introspect.tracker import Policy
from masakari_introspect.tracker import Verdict

LOG = logging.getLogger(__name__)

_PAUSING = (EventKind.PAUSED, EventKind.MIGRATING, EventKind.SHUTTING_DOWN)
_RESUMING = (EventKind.RESUMED, EventKind.REBOOTED, EventKind.AGENT_CONNECTED)
# One sequence for all records: a result from before a domain was forgotten
# and found again never matches the new record.
_generations = itertools.count(1)


def _log_not_monitored(info: DomainInfo) -> None:
    LOG.debug('Domain %s (%s) has no guest agent channel; not monitored',
              info.name, info.uuid)


class Prober(Protocol):
    """Pings one guest's agent; never raises."""

    def ping(self, uuid: str, timeout: int) -> ProbeResult:
        ...


class Hypervisor(Protocol):
    def list_domains(self) -> list[DomainInfo]:
        ...

    def domain_info(self, uuid: str) -> DomainInfo | None:
        ...

    def ping(self, uuid: str, timeout: int) -> ProbeResult:
        ...


class Outbox(Protocol):
    def submit(self, notification: Notification) -> bool:
        ...


class Observer(Protocol):
    """Told about every probe result and report (e.g. for metrics)."""

    def probe_finished(self, result: ProbeResult) -> None:
        ...

    def reported(self, uuid: str) -> None:
        ...


class _NoObserver:
    def probe_finished(self, result: ProbeResult) -> None:
        pass

    def reported(self, uuid: str) -> None:
        pass


@dataclasses.dataclass(frozen=True)
class Settings:
    hostname: str
    probe_interval: float = 10.0
    probe_timeout: int = 2
    max_concurrent_probes: int = 32


class Watched:
    """An instance being monitored, and its probe bookkeeping."""

    def __init__(self, state: InstanceState, domain_id: int) -> None:
        self.state = state
        self.domain_id = domain_id
        self.generation = next(_generations)   # renewed to void results
        self.in_flight = False
        self.saved: Remembered | None = None   # as last written to disk
        self.last_report: float | None = None  # wall clock, this process

    def remembered(self) -> Remembered:
        return Remembered(self.domain_id, self.state.answered,
                          self.state.reported)


class Monitor:
    def __init__(self, hypervisor: Hypervisor, policy: Policy,
                 settings: Settings, outbox: Outbox, *,
                 store: StateStore | None = None,
                 observer: Observer | None = None,
                 suspect_prober: Prober | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._hypervisor = hypervisor
        self._policy = policy
        self._settings = settings
        self._outbox = outbox
        self._store = store
        self._clock = clock
        self._inbox: queue.SimpleQueue[tuple[Callable[..., None],
                                             tuple[Any, ...]]] = \
            queue.SimpleQueue()
        self._watched: dict[str, Watched] = {}
        self._remembered = store.load() if store is not None else {}
        self._maintenance = store.load_maintenance() \
            if store is not None else set()
        self._observer: Observer = observer or _NoObserver()
        # Guests that did not answer their last ping may hold a probe for
        # seconds; they can have their own way to the hypervisor.
        self._probers: dict[bool, Prober] = {
            True: hypervisor, False: suspect_prober or hypervisor}
        self._dirty = False
        self._report_unsaved = False
        self._lanes = {
            True: ProbeLane('probe-healthy', settings.max_concurrent_probes),
            False: ProbeLane('probe-suspect', settings.max_concurrent_probes),
        }
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread-safe entry points (any thread) -------------------------------

    def post_event(self, event: DomainEvent) -> None:
        self._inbox.put((self._on_event, (event,)))

    def post_connection(self, up: bool) -> None:
        self._inbox.put((self._on_connection, (up,)))

    def tick(self) -> None:
        self._inbox.put((self._on_tick, ()))

    def resync(self) -> None:
        self._inbox.put((self._on_resync, ()))

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

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='monitor',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop probing; wait up to ``timeout`` s for probes in flight."""
        deadline = time.monotonic() + timeout
        self._inbox.put((self._halt, ()))
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.1))
        for lane in self._lanes.values():
            if not lane.close(max(deadline - time.monotonic(), 0)):
                LOG.warning('Probes still in flight after %.0f s; not '
                            'waiting for them', timeout)
        self._flush()

    def _halt(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            handler, args = self._inbox.get()
            try:
                handler(*args)
                if self._report_unsaved and self._inbox.empty():
                    # Once per burst: many guests may fail at once.
                    self._flush()
            except Exception:
                LOG.exception('Error while handling %s',
                              getattr(handler, '__name__', handler))

    # -- handlers (owner thread only) ----------------------------------------

    def _on_tick(self) -> None:
        for uuid, watched in self._watched.items():
            if watched.state.probed and not watched.in_flight:
                self._dispatch(uuid, watched)
        self._flush()

    def _on_resync(self) -> None:
        try:
            domains = self._hypervisor.list_domains()
        except HypervisorUnavailable as exc:
            LOG.debug('Resync skipped: %s', exc)
            return
        seen = set()
        for info in domains:
            if not info.has_agent_channel:
                if info.uuid not in self._watched:
                    _log_not_monitored(info)
                else:
                    self._forget(info.uuid, 'guest agent channel removed')
                continue
            seen.add(info.uuid)
            self._reconcile(info)
        for uuid in [u for u in self._watched if u not in seen]:
            self._forget(uuid, 'domain no longer running')
        # Remembered domains that are not running are gone for good.
        if self._remembered:
            self._remembered = {}
            self._dirty = True
        self._flush()

    def _on_connection(self, up: bool) -> None:
        if up:
            LOG.info('libvirt connection up; resyncing %d instance(s)',
                     len(self._watched))
            self._on_resync()
            return
        for watched in self._watched.values():
            watched.state.connection_lost()
            self._new_generation(watched)

    def _on_event(self, event: DomainEvent) -> None:
        LOG.debug('Event %s (%s) for %s (%s)', event.kind.value, event.detail,
                  event.name, event.uuid)
        if event.kind is EventKind.STOPPED:
            self._forget(event.uuid, 'domain stopped (%s)' % event.detail)
            return
        watched = self._watched.get(event.uuid)
        if watched is None:
            if event.kind is not EventKind.AGENT_DISCONNECTED:
                self._discover(event.uuid)
            return
        now = self._clock()
        before = watched.state.phase
        if event.kind is EventKind.STARTED:
            watched.state.started(now)
            self._new_generation(watched)
            if event.domain_id >= 0:
                watched.domain_id = event.domain_id
            self._dirty = True
        elif event.kind in _PAUSING:
            watched.state.paused()
            self._new_generation(watched)
        elif event.kind in _RESUMING:
            watched.state.resumed(now)
            self._new_generation(watched)
        self._log_phase(watched, before, event.kind.value)
        if event.kind in (EventKind.AGENT_CONNECTED,
                          EventKind.AGENT_DISCONNECTED) \
                and watched.state.probed and not watched.in_flight:
            self._dispatch(event.uuid, watched)

    def _on_result(self, result: ProbeResult, generation: int) -> None:
        watched = self._watched.get(result.uuid)
        if watched is None or watched.generation != generation:
            LOG.debug('Dropped a stale probe result for %s', result.uuid)
            return
        watched.in_flight = False
        state = watched.state
        self._observer.probe_finished(result)
        LOG.debug('Probe %s (%s): %s %s in %.3f s', state.name, result.uuid,
                  result.outcome.value, result.detail, result.duration)
        before = state.phase
        verdict = Verdict.NONE
        now = self._clock()
        if result.outcome is Outcome.OK:
            verdict = state.success(now)
        elif result.outcome is Outcome.MISS:
            verdict = state.miss(now)
        elif result.outcome is Outcome.NOT_RUNNING:
            state.paused()
        elif result.outcome in (Outcome.GONE, Outcome.NOT_CONFIGURED):
            self._forget(result.uuid, result.detail)
            return
        elif result.outcome is Outcome.ERROR:
            LOG.warning('Unexpected answer probing %s (%s): %s', state.name,
                        result.uuid, result.detail)
        self._log_phase(watched, before, result.detail or
                        result.outcome.value)
        self._act(watched, verdict, result)
        if state.probed and result.duration >= self._settings.probe_interval \
                and result.outcome is not Outcome.CONNECTION:
            # A hung agent held this probe for seconds: probe again now
            # rather than waiting for the next tick.
            self._dispatch(result.uuid, watched)

    # -- helpers (owner thread only) -----------------------------------------

    def _discover(self, uuid: str) -> None:
        try:
            info = self._hypervisor.domain_info(uuid)
        except HypervisorUnavailable:
            return
        if info is None or info.domain_id < 0:
            return
        if not info.has_agent_channel:
            _log_not_monitored(info)
            return
        self._reconcile(info)

    def _reconcile(self, info: DomainInfo) -> None:
        """Bring the record of one listed domain in line with libvirt."""
        now = self._clock()
        watched = self._watched.get(info.uuid)
        if watched is None:
            memory = self._remembered.pop(info.uuid, None)
            if memory is not None and memory.domain_id != info.domain_id:
                memory = None
            # Without a memory of it, an agent that has its port open is
            # taken as one that works: if it does not answer after the
            # grace, it is a hang, not an image without an agent.
            state = InstanceState(
                info.uuid, info.name, self._policy, now,
                answered=memory.answered if memory else info.agent_connected,
                reported=bool(memory and memory.reported))
            watched = Watched(state, info.domain_id)
            state.set_maintenance(info.uuid in self._maintenance, now)
            self._watched[info.uuid] = watched
            LOG.info('Monitoring instance %s (%s)%s', info.name, info.uuid,
                     ', already reported before a restart'
                     if state.reported else '')
            if not info.running:
                state.paused()
            self._dirty = True
            return
        if watched.domain_id != info.domain_id:
            watched.domain_id = info.domain_id
            watched.state.started(now)
            self._new_generation(watched)
            self._dirty = True
        if not info.running and watched.state.probed:
            watched.state.paused()
            self._new_generation(watched)
        elif info.running and not watched.state.probed:
            watched.state.resumed(now)

    def _forget(self, uuid: str, why: str) -> None:
        watched = self._watched.pop(uuid, None)
        if watched is not None:
            LOG.info('No longer monitoring %s (%s): %s', watched.state.name,
                     uuid, why)
            self._dirty = True

    def _new_generation(self, watched: Watched) -> None:
        watched.generation = next(_generations)
        watched.in_flight = False

    def _dispatch(self, uuid: str, watched: Watched) -> None:
        watched.in_flight = True
        generation = watched.generation
        healthy = watched.state.phase is Phase.HEALTHY
        lane, prober = self._lanes[healthy], self._probers[healthy]
        timeout = self._settings.probe_timeout

        def probe() -> None:
            result = prober.ping(uuid, timeout)
            self._inbox.put((self._on_result, (result, generation)))

        lane.submit(probe)

    def _act(self, watched: Watched, verdict: Verdict,
             result: ProbeResult) -> None:
        state = watched.state
        if verdict is Verdict.REPORT:
            LOG.error('Instance %s (%s) missed %d consecutive guest-pings '
                      '(last: %s); reporting it to Masakari', state.name,
                      state.uuid, state.misses, result.detail)
            self._report(state)
            watched.last_report = time.time()
            self._observer.reported(state.uuid)
            # Saved as soon as the queue is drained: the notification
            # itself is already in the spool.
            self._dirty = True
            self._report_unsaved = True
            return
        elif verdict is Verdict.NEVER_ANSWERED:
            LOG.warning('The guest agent of instance %s (%s) has not answered '
                        'since the domain started, %d s ago or more; %s',
                        state.name, state.uuid,
                        self._policy.boot_grace_period,
                        'counting its misses as failures'
                        if self._policy.report_agent_never_answered else
                        'not reporting it (report_agent_never_answered is '
                        'off)')
        elif verdict is Verdict.RECOVERED:
            LOG.info('Instance %s (%s) answers again', state.name,
                     state.uuid)
        if watched.saved != watched.remembered():
            self._dirty = True

    def _report(self, state: InstanceState) -> None:
        notification = Notification.create(state.uuid,
                                           self._settings.hostname)
        try:
            queued = self._outbox.submit(notification)
        except Exception:
            LOG.exception('Could not queue the notification for %s; it will '
                          'be retried on the next miss', state.uuid)
            state.reported = False
            state.phase = Phase.FAILING
            return
        if not queued:
            LOG.info('A notification for %s is already pending', state.uuid)

    def _log_phase(self, watched: Watched, before: Phase, why: str) -> None:
        after = watched.state.phase
        if after is not before:
            LOG.info('Instance %s (%s): %s -> %s (%s)', watched.state.name,
                     watched.state.uuid, before.value, after.value, why)

    def _flush(self) -> None:
        if not self._dirty or self._store is None:
            return
        self._dirty = False
        self._report_unsaved = False
        records = dict(self._remembered)   # not seen again yet
        records.update((uuid, w.remembered())
                       for uuid, w in self._watched.items())
        try:
            self._store.save(records, self._maintenance)
        except OSError as exc:
            LOG.error('Cannot save state to disk: %s', exc)
            self._dirty = True
            return
        for uuid, watched in self._watched.items():
            watched.saved = records[uuid]

    def _set_maintenance(self, instance: str, on: bool) -> str | None:
        uuid = instance if instance in self._watched else next(
            (u for u, w in self._watched.items()
             if w.state.name == instance), None)
        if uuid is None and instance in self._maintenance:
            uuid = instance
        if uuid is None:
            return None
        if on:
            self._maintenance.add(uuid)
        else:
            self._maintenance.discard(uuid)
        watched = self._watched.get(uuid)
        if watched is not None:
            before = watched.state.phase
            watched.state.set_maintenance(on, self._clock())
            self._new_generation(watched)
            self._log_phase(watched, before, 'maintenance')
        LOG.info('Instance %s %s maintenance', uuid,
                 'put in' if on else 'taken out of')
        self._dirty = True
        self._flush()
        return uuid

    # -- read-only views (owner thread: call through query()) ----------------

    def snapshot(self) -> list[dict[str, Any]]:
        """A copy of every record, for status and metrics."""
        now = self._clock()
        return [{'uuid': uuid, 'name': w.state.name,
                 'state': 'maintenance' if w.state.maintenance
                 else w.state.phase.value,
                 'misses': w.state.misses,
                 'seconds_since_success': None
                 if w.state.last_success is None
                 else round(now - w.state.last_success, 3),
                 'reported': w.state.reported,
                 'last_notification': w.last_report,
                 'maintenance': w.state.maintenance}
                for uuid, w in sorted(self._watched.items(),
                                      key=lambda item: item[1].state.name)]
