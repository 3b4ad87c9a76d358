"""Prometheus families of application probes, read at scrape time from
each instance's :class:`~masakari_introspect.core.status.AppProbeStatus`."""

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from masakari_introspect.core.status import InstanceStatus

PREFIX = 'masakari_introspect_'


def application_families(instances: Sequence[InstanceStatus]
                         ) -> Iterator[Metric]:
    """Per application probe: runs, failed runs, the last run's duration
    and whether it is in a failure episode."""
    labels = ['uuid', 'probe']
    runs = CounterMetricFamily(
        PREFIX + 'application_probe_runs',
        'Runs of an application probe judged (passed or failed) since the '
        'service started.', labels=labels)
    failures = CounterMetricFamily(
        PREFIX + 'application_probe_failures',
        'Failed runs of an application probe (exit code not 0, timeout, '
        'still running at its next turn) since the service started.',
        labels=labels)
    duration = GaugeMetricFamily(
        PREFIX + 'application_probe_last_duration_seconds',
        'Duration of the last judged run of an application probe.',
        labels=labels)
    failing = GaugeMetricFamily(
        PREFIX + 'application_probe_failing',
        'Whether an application probe is in a failure episode (threshold '
        'failed runs in a row; 1/0), by its on_failure (report, warn).',
        labels=labels + ['on_failure'])
    refused = GaugeMetricFamily(
        PREFIX + 'application_probe_refused',
        'Whether the guest agent does not allow guest-exec, so that the '
        'application probe is not run (1/0).', labels=labels)
    for status in instances:
        for probe in status.probes:
            key = [status.uuid, probe.name]
            runs.add_metric(key, float(probe.runs))
            failures.add_metric(key, float(probe.failed_runs))
            if probe.last_duration is not None:
                duration.add_metric(key, probe.last_duration)
            failing.add_metric(key + [probe.on_failure],
                               float(probe.failing))
            refused.add_metric(key, float(probe.refused))
    yield from (runs, failures, duration, failing, refused)
