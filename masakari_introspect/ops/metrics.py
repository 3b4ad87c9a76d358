"""Prometheus metrics, in a registry of the service's own.

Counters and the probe latency histogram are fed as things happen: by the
monitor (as its :class:`~masakari_introspect.runtime.monitor.Observer`), by the
sender (``on_result``) and by the dry-run outbox. What describes the present
(each instance's state, the spool depth, the libvirt connection) is read at
scrape time from a :class:`Source`, never kept in sync by hand.
"""

import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import Info
from prometheus_client import PlatformCollector
from prometheus_client import ProcessCollector
from prometheus_client import make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import InfoMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import Metric

from oslo_log import log as logging

from masakari_introspect.ops.app_metrics import application_families
from masakari_introspect.ops.view import ServerThread
from masakari_introspect.ops.view import Source
from masakari_introspect.core.model import Delivery
from masakari_introspect.core.model import DeliveryResult
from masakari_introspect.core.model import Notification
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.status import LIMITED
from masakari_introspect.core.status import MAINTENANCE
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.recovery.outbox import PendingNotification
from masakari_introspect.version import version_string

LOG = logging.getLogger(__name__)

PREFIX = 'masakari_introspect_'
DRY_RUN = 'dry_run'
# Healthy agents answer in milliseconds; a hung one holds a probe for the
# timeout plus libvirt's five-second re-synchronisation.
PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 7.5, 10.0, 30.0)
# What each phase says of the agent, as instance_agent_up: 1.0 it
# answered its last probe, 0.0 it did not (or not yet), None it is not
# probed now (no series). Every Phase has a line here; a unit test
# enumerates them. (In maintenance there is no series either.)
AGENT_UP: dict[Phase, float | None] = {
    Phase.GRACE: 0.0,            # (re)started, no answer yet
    Phase.HEALTHY: 1.0,
    Phase.FAILING: 0.0,
    Phase.ACTIVE: 0.0,           # agent failed, the guest works
    Phase.FAILED: 0.0,
    Phase.NO_AGENT: 0.0,
    Phase.PAUSED: None,
    Phase.FAILURE_PAUSE: None,
    Phase.AGENT_LOST: 0.0,       # port closed, the kernel lives
    Phase.KDUMP: 0.0,            # crash loaded: a crash kernel runs
}


class Metrics:
    """The service's metrics; also its monitor Observer."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 process: bool = True, version: str | None = None) -> None:
        self.registry = registry if registry is not None \
            else CollectorRegistry()
        Info(PREFIX + 'build', 'The running masakari-introspect: its '
             'version (value 1).', registry=self.registry).info(
                 {'version': version or version_string()})
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._latency = Histogram(
            PREFIX + 'probe_duration_seconds',
            'Duration of guest-ping probes, whatever their outcome.',
            buckets=PROBE_BUCKETS, registry=self.registry)
        self._statistics = Histogram(
            PREFIX + 'statistics_duration_seconds',
            'Duration of the per-interval bulk statistics call (activity '
            'and kernel heartbeat of every running guest).',
            buckets=PROBE_BUCKETS, registry=self.registry)
        self._probes = self._counter(
            'probes', 'Guest-ping probes by outcome.',
            'outcome', [outcome.value for outcome in Outcome])
        self._notifications = self._counter(
            'notifications',
            'Attempts to notify Masakari by result: delivered, duplicate '
            '(HTTP 409), rejected (needs an operator), transient (retried), '
            'unrecoverable (a local recovery that cannot be done, e.g. a '
            'transient domain that is gone: the entry ends), dry_run '
            '(logged, not sent).',
            'result', [delivery.value for delivery in Delivery] + [DRY_RUN])
        self._reports = self._counter(
            'reports',
            'Instances found failed and reported (one per failure episode), '
            'by reason: unresponsive, disconnected, busy, error, '
            'failure_pause, crashed, watchdog, inactive, boot_hang, '
            'kernel_hung, application.',
            'reason', [reason.value for reason in Reason])
        self._limited = self._counter(
            'recovery_limit_reached',
            'Failures not reported because the instance reached [recovery] '
            'max_recoveries reports in [recovery] window, by reason.',
            'reason', [reason.value for reason in Reason])

    def _counter(self, name: str, documentation: str, label: str,
                 values: list[str]) -> Counter:
        """A counter by ``label``, every value of which starts at 0."""
        counter = Counter(PREFIX + name, documentation, [label],
                          registry=self.registry)
        for value in values:
            counter.labels(value)
        return counter

    # -- the monitor's Observer (the monitor's owner thread) -----------------

    def probe_finished(self, result: ProbeResult) -> None:
        self._probes.labels(result.outcome.value).inc()
        self._latency.observe(max(result.duration, 0.0))

    def statistics_read(self, seconds: float) -> None:
        """The statistics call took ``seconds`` (the statistics thread)."""
        self._statistics.observe(max(seconds, 0.0))

    def reported(self, uuid: str, reason: str) -> None:
        self._reports.labels(reason).inc()

    def limit_reached(self, uuid: str, reason: str) -> None:
        self._limited.labels(reason).inc()

    # -- the sender's on_result and the dry-run outbox -----------------------

    def delivery(self, notification: Notification,
                 result: DeliveryResult) -> None:
        self._notifications.labels(result.delivery.value).inc()

    def dry_run(self, notification: Notification) -> None:
        self._notifications.labels(DRY_RUN).inc()

    # -- the present -----------------------------------------------------------

    def watch(self, source: Source) -> None:
        """Expose ``source`` at every scrape."""
        self.registry.register(StateCollector(source))

    def watch_calls(self, calls: Callable[[], dict[str, tuple[int, int]]],
                    budget: int) -> None:
        """Expose the agent calls in flight and queued per lane (``calls``
        as :meth:`~masakari_introspect.runtime.monitor.Monitor.calls` gives them)
        and the worker budget at every scrape."""
        self.registry.register(CallsCollector(calls, budget))


class CallsCollector:
    """Agent calls against libvirtd's worker budget."""

    def __init__(self, calls: Callable[[], dict[str, tuple[int, int]]],
                 budget: int) -> None:
        self._calls = calls
        self._budget = budget

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield _gauge('agent_call_budget',
                     "Guest agent calls the service may have in flight at "
                     "once: [libvirt] max_workers x worker_share.",
                     float(self._budget))
        in_flight = GaugeMetricFamily(
            PREFIX + 'agent_calls_in_flight',
            'Guest agent calls inside libvirtd now, by probe lane (healthy, '
            'suspect, application: application probes\' calls, which take '
            'healthy-lane slots); a call the service gave up on counts '
            'until libvirt returns it.', labels=['lane'])
        queued = GaugeMetricFamily(
            PREFIX + 'agent_calls_queued',
            'Probes waiting for the worker budget, by probe lane.',
            labels=['lane'])
        for lane, (running, waiting) in sorted(self._calls().items()):
            in_flight.add_metric([lane], float(running))
            queued.add_metric([lane], float(waiting))
        yield in_flight
        yield queued


class StateCollector:
    """Per-instance and per-service gauges, read from a Source."""

    def __init__(self, source: Source) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return []   # nothing to read before the first scrape

    def collect(self) -> Iterator[Metric]:
        yield _gauge('libvirt_connected',
                     'Whether the service is connected to libvirtd (1/0).',
                     float(self._source.libvirt_connected()))
        yield _gauge('spool_depth',
                     'Notifications in the spool not yet accepted by '
                     'Masakari.', float(self._source.pending()))
        yield from _pending_families(self._source.pending_notifications())
        try:
            instances = self._source.instances()
        except TimeoutError:
            LOG.warning('The monitor did not answer in time; metrics served '
                        'without per-instance values')
            instances = None
        except Exception:
            LOG.exception('Cannot read the instances for metrics')
            instances = None
        yield _gauge('monitor_responsive',
                     'Whether the monitor answered this scrape in time (1/0); '
                     'if 0 the per-instance series are missing.',
                     float(instances is not None))
        if instances is not None:
            yield from _instance_families(instances)


def _pending_families(pending: Sequence[PendingNotification]
                      ) -> Iterator[Metric]:
    """Each notification the sender still works on: its age, attempts
    and whether its last attempt failed."""
    age = GaugeMetricFamily(
        PREFIX + 'notification_pending_age_seconds',
        'Seconds since the sender first saw a notification it has not '
        'carried out yet (monotonic, this process).', labels=['uuid'])
    attempts = GaugeMetricFamily(
        PREFIX + 'notification_pending_attempts',
        'Attempts made on a pending notification by this process.',
        labels=['uuid'])
    failing = GaugeMetricFamily(
        PREFIX + 'notification_pending_failing',
        'Whether the last attempt on a pending notification failed (1/0); '
        'the status command shows the error.', labels=['uuid'])
    for item in pending:
        age.add_metric([item.instance_uuid], item.age)
        attempts.add_metric([item.instance_uuid], float(item.attempts))
        failing.add_metric([item.instance_uuid], float(bool(item.last_error)))
    yield age
    yield attempts
    yield failing
    yield _gauge('notification_pending_oldest_age_seconds',
                 'Age of the oldest pending notification (0 if none).',
                 max((item.age for item in pending), default=0.0))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


def _instance_families(instances: Sequence[InstanceStatus]
                       ) -> Iterator[Metric]:
    info = InfoMetricFamily(
        PREFIX + 'instance', 'A monitored instance and its domain name.',
        labels=['uuid'])
    state = GaugeMetricFamily(
        PREFIX + 'instance_state',
        'Current state of an instance: one series per instance, value 1. '
        + ', '.join([phase.value for phase in Phase] + [LIMITED, MAINTENANCE])
        + '.', labels=['uuid', 'state'])
    agent_up = GaugeMetricFamily(
        PREFIX + 'instance_agent_up',
        'Whether the guest agent answered its last probe (1/0); absent while '
        'the instance is not probed (paused, failure_pause, maintenance).',
        labels=['uuid'])
    misses = GaugeMetricFamily(
        PREFIX + 'instance_consecutive_misses',
        'Consecutive guest-pings the agent did not answer.', labels=['uuid'])
    since = GaugeMetricFamily(
        PREFIX + 'instance_last_success_age_seconds',
        'Seconds since the agent last answered; absent if it has not '
        'answered since the service started.', labels=['uuid'])
    maintenance = GaugeMetricFamily(
        PREFIX + 'instance_maintenance',
        'Whether the operator excluded the instance from monitoring (1/0).',
        labels=['uuid'])
    notified = GaugeMetricFamily(
        PREFIX + 'instance_last_notification_timestamp_seconds',
        'When the instance was last reported by this process (Unix time); '
        'absent if never.', labels=['uuid'])
    heartbeat = GaugeMetricFamily(
        PREFIX + 'instance_heartbeat_age_seconds',
        'Seconds since the guest kernel last answered the balloon statistics '
        'request (the kernel heartbeat); absent while it is not in use.',
        labels=['uuid'])
    starved = GaugeMetricFamily(
        PREFIX + 'instance_starved_intervals',
        'Statistics intervals in which a vCPU of the guest waited for a host '
        'CPU more than half the interval and ran less than a tenth of it '
        '(since the instance was found).', labels=['uuid'])
    for status in instances:
        uuid = status.uuid
        starved.add_metric([uuid], float(status.starved_intervals))
        if status.heartbeat_age is not None:
            heartbeat.add_metric([uuid], status.heartbeat_age)
        info.add_metric([uuid], {'name': status.name})
        state.add_metric([uuid, status.label], 1.0)
        up = None if status.maintenance or status.phase is None \
            or not status.monitored \
            else AGENT_UP[status.phase]
        if up is not None:
            agent_up.add_metric([uuid], up)
        misses.add_metric([uuid], float(status.misses))
        if status.seconds_since_success is not None:
            since.add_metric([uuid], status.seconds_since_success)
        maintenance.add_metric([uuid], float(status.maintenance))
        if status.last_notification is not None:
            notified.add_metric([uuid], status.last_notification)
    yield from (info, state, agent_up, misses, since, maintenance, notified,
                heartbeat, starved)
    yield from application_families(instances)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug('Metrics request from %s: ' + format,
                  self.address_string(), *args)


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class MetricsListener:
    """An HTTP listener serving a registry (bound at construction)."""

    def __init__(self, registry: CollectorRegistry, host: str,
                 port: int) -> None:
        server_class = _IPv6Server if ':' in host else ThreadingWSGIServer
        app: Callable[..., Any] = make_wsgi_app(registry)
        self._server = make_server(host, port, app, server_class,
                                   handler_class=_QuietHandler)
        self._serving = ServerThread(self._server, 'metrics')

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return 'http://%s:%d/metrics' % (
            '[%s]' % host if ':' in host else host, port)

    def start(self) -> None:
        self._serving.start()
        LOG.info('Serving metrics on %s', self.url)

    def close(self) -> None:
        self._serving.close()
