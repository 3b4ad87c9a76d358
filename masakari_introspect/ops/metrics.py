"""Prometheus metrics, in a registry of the service's own.

Counters and the probe latency histogram are fed as things happen: by the
monitor (as its :class:`~masakari_introspect.runtime.reporter.Observer`), by the
sender (``on_result``) and by the dry-run outbox. What describes the present
(each instance's state, the spool depth, the libvirt connection) is read at
scrape time from a :class:`Source` (:mod:`~masakari_introspect.ops.gauges`),
never kept in sync by hand. :class:`MetricsListener` serves them over HTTP.
"""

import socket
from collections.abc import Callable
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
from prometheus_client.exposition import ThreadingWSGIServer

from oslo_log import log as logging

from masakari_introspect.ops.gauges import PREFIX
from masakari_introspect.ops.gauges import CallsCollector
from masakari_introspect.ops.gauges import StateCollector
from masakari_introspect.ops.view import ServerThread
from masakari_introspect.ops.view import Source
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Reason
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.version import version_string

LOG = logging.getLogger(__name__)

DRY_RUN = 'dry_run'
# Healthy agents answer in milliseconds; a hung one holds a probe for the
# timeout plus libvirt's five-second re-synchronisation.
PROBE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                 7.5, 10.0, 30.0)
# The statistics calls (virt/host.py): the bulk one, the vCPU one, and the
# one of a few guests whose late heartbeat would go stale between two bulk
# calls.
STATISTICS_CALLS = ('bulk', 'vcpu', 'guests')


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
            'Duration of the per-interval statistics calls, by call: bulk '
            '(activity and kernel heartbeat of every running guest; it waits'
            ' for each QEMU) and vcpu (vCPU run time and run delay, the '
            'starvation evidence; it should not wait for QEMU), and guests '
            '(the same as bulk, of the few guests whose late kernel heartbeat'
            ' would go stale before the next bulk call; its count is the '
            'number of such samples).',
            ['call'], buckets=PROBE_BUCKETS, registry=self.registry)
        for call in STATISTICS_CALLS:
            self._statistics.labels(call)
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

    def statistics_read(self, seconds: float, call: str = 'bulk') -> None:
        """The statistics call ``call`` (bulk, vcpu, guests) took ``seconds``
        (its statistics thread)."""
        self._statistics.labels(call).observe(max(seconds, 0.0))

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
