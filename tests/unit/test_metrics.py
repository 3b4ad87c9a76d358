"""Metrics: a fresh registry each, scraped over HTTP from a real listener."""

import time
import types
import urllib.request

import pytest
from oslo_config import cfg
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from masakari_introspect.conf import (
    validate,
    default,
    introspection,
    libvirt,
    masakari,
    status,
)
from masakari_introspect.conf import metrics as metrics_conf
from masakari_introspect.conf import recovery as recovery_conf
from masakari_introspect.conf.metrics import parse_listen
from masakari_introspect.ops.metrics import Metrics, MetricsListener
from masakari_introspect.core.notification import Delivery, DeliveryResult, Notification
from masakari_introspect.core.model import Outcome, ProbeResult
from masakari_introspect.ops.view import View
from masakari_introspect.version import version_string
from tests.unit.fakes import InstantHypervisor, RecordingOutbox, make_monitor, wait_until
from tests.unit.fakes import A, B, FakeSource, instance

P = 'masakari_introspect_'


def note(uuid=A):
    return Notification(instance_uuid=uuid, hostname='compute-1',
                        generated_time='2026-11-21T17:00:00', id='n-' + uuid)


def scrape(listener):
    """Every sample of a real HTTP scrape: {(name, labels...): value}."""
    with urllib.request.urlopen(listener.url, timeout=10) as response:
        assert response.status == 200
        assert response.headers['Content-Type'].startswith('text/plain')
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name,) + tuple(sorted(sample.labels.items()))
            assert key not in samples, key
            samples[key] = sample.value
    return samples


def series(samples, name):
    """{labels: value} of one metric name."""
    return {key[1:]: value for key, value in samples.items()
            if key[0] == name}


def test_build_info(listener):
    samples = scrape(listener)
    assert series(samples, P + 'build_info') == {
        (('version', version_string()),): 1.0}


def test_build_info_of_a_given_version():
    metrics = Metrics(CollectorRegistry(), process=False, version='1.2.3')
    assert metrics.registry.get_sample_value(
        P + 'build_info', {'version': '1.2.3'}) == 1.0


def test_listener_address_and_url(listener):
    host, port = listener.address
    assert host == '127.0.0.1'
    assert port > 0
    assert listener.url == 'http://127.0.0.1:%d/metrics' % port


def test_counters_start_at_zero_for_every_outcome_and_result(metrics,
                                                             listener):
    samples = scrape(listener)
    assert series(samples, P + 'probes_total') == {
        (('outcome', o.value),): 0.0 for o in Outcome}
    assert series(samples, P + 'notifications_total') == {
        (('result', r),): 0.0 for r in ('delivered', 'duplicate', 'maintenance',
                                        'rejected', 'transient', 'unrecoverable',
                                        'dry_run')}
    assert samples[(P + 'reports_total', ('reason', 'unresponsive'))] == 0.0
    assert samples[(P + 'probe_duration_seconds_count',)] == 0.0


def test_probes_reports_and_notifications_are_counted(metrics, listener):
    metrics.probe_finished(ProbeResult(A, Outcome.OK, duration=0.003))
    metrics.probe_finished(ProbeResult(A, Outcome.OK, duration=0.004))
    metrics.probe_finished(ProbeResult(B, Outcome.MISS, duration=6.0))
    metrics.reported(B, 'unresponsive')
    metrics.delivery(note(B), DeliveryResult(Delivery.TRANSIENT, 503, ''))
    metrics.delivery(note(B), DeliveryResult(Delivery.DELIVERED, 202, ''))
    metrics.delivery(note(A), DeliveryResult(Delivery.DUPLICATE, 409, ''))
    metrics.dry_run(note(A))
    samples = scrape(listener)
    probes = series(samples, P + 'probes_total')
    assert probes[(('outcome', 'ok'),)] == 2
    assert probes[(('outcome', 'miss'),)] == 1
    assert probes[(('outcome', 'busy'),)] == 0
    assert samples[(P + 'probe_duration_seconds_count',)] == 3
    assert samples[(P + 'probe_duration_seconds_sum',)] == \
        pytest.approx(6.007)
    assert samples[(P + 'probe_duration_seconds_bucket',
                    ('le', '0.005'))] == 2
    assert samples[(P + 'probe_duration_seconds_bucket', ('le', '5.0'))] == 2
    assert samples[(P + 'probe_duration_seconds_bucket', ('le', '7.5'))] == 3
    assert samples[(P + 'reports_total', ('reason', 'unresponsive'))] == 1
    results = series(samples, P + 'notifications_total')
    assert results == {(('result', 'delivered'),): 1,
                       (('result', 'duplicate'),): 1,
                       (('result', 'maintenance'),): 0,
                       (('result', 'rejected'),): 0,
                       (('result', 'transient'),): 1,
                       (('result', 'unrecoverable'),): 0,
                       (('result', 'dry_run'),): 1}


def test_per_instance_and_service_gauges(metrics, listener):
    source = FakeSource([
        instance(A, 'vm-a', 'healthy', since=1.25),
        instance(B, 'vm-b', 'failed', misses=4, since=None,
                 last_notification=1_700_000_000.5),
        instance('c', 'vm-c', 'maintenance', maintenance=True, since=80.0),
    ], connected=True, pending=2)
    metrics.watch(source)
    samples = scrape(listener)
    assert samples[(P + 'libvirt_connected',)] == 1
    assert samples[(P + 'spool_depth',)] == 2
    assert samples[(P + 'monitor_responsive',)] == 1
    assert series(samples, P + 'instance_info') == {
        (('name', 'vm-a'), ('uuid', A)): 1,
        (('name', 'vm-b'), ('uuid', B)): 1,
        (('name', 'vm-c'), ('uuid', 'c')): 1}
    # enum style: one series per instance, for its current state
    assert series(samples, P + 'instance_state') == {
        (('state', 'healthy'), ('uuid', A)): 1,
        (('state', 'failed'), ('uuid', B)): 1,
        (('state', 'maintenance'), ('uuid', 'c')): 1}
    # not probed in maintenance: reachability unknown, no series
    assert series(samples, P + 'instance_agent_up') == {
        (('uuid', A),): 1, (('uuid', B),): 0}
    assert series(samples, P + 'instance_consecutive_misses') == {
        (('uuid', A),): 0, (('uuid', B),): 4, (('uuid', 'c'),): 0}
    assert series(samples, P + 'instance_last_success_age_seconds') == {
        (('uuid', A),): 1.25, (('uuid', 'c'),): 80.0}
    assert series(samples, P + 'instance_maintenance') == {
        (('uuid', A),): 0, (('uuid', B),): 0, (('uuid', 'c'),): 1}
    assert series(
        samples, P + 'instance_last_notification_timestamp_seconds') == {
        (('uuid', B),): 1_700_000_000.5}


@pytest.mark.parametrize('state', ['paused', 'failure_pause'])
def test_a_paused_instance_has_no_agent_up_series(metrics, listener, state):
    metrics.watch(FakeSource([instance(A, 'vm-a', state)]))
    samples = scrape(listener)
    assert series(samples, P + 'instance_state') == {
        (('state', state), ('uuid', A)): 1}
    assert series(samples, P + 'instance_agent_up') == {}


def test_values_are_read_at_every_scrape(metrics, listener):
    source = FakeSource([instance(A, 'vm-a', 'healthy')], connected=True)
    metrics.watch(source)
    assert scrape(listener)[(P + 'instance_agent_up', ('uuid', A))] == 1
    source.records[0] = instance(A, 'vm-a', 'failing', misses=1)
    source.connected = False
    source.spooled = 1
    samples = scrape(listener)
    assert samples[(P + 'instance_agent_up', ('uuid', A))] == 0
    assert samples[(P + 'instance_state', ('state', 'failing'),
                    ('uuid', A))] == 1
    assert (P + 'instance_state', ('state', 'healthy'), ('uuid', A)) \
        not in samples
    assert samples[(P + 'libvirt_connected',)] == 0
    assert samples[(P + 'spool_depth',)] == 1
    source.records.clear()
    assert series(scrape(listener), P + 'instance_state') == {}


def test_a_busy_monitor_still_gives_the_service_metrics(metrics, listener):
    source = FakeSource([instance(A)], pending=1)
    source.hang = True
    metrics.watch(source)
    samples = scrape(listener)
    assert samples[(P + 'monitor_responsive',)] == 0
    assert samples[(P + 'spool_depth',)] == 1
    assert series(samples, P + 'instance_state') == {}


def test_process_metrics_in_the_service_registry():
    metrics = Metrics()
    names = {m.name for m in metrics.registry.collect()}
    assert 'process_cpu_seconds' in names or 'python_info' in names


def test_registries_are_separate():
    first, second = Metrics(process=False), Metrics(process=False)
    first.reported(A, 'unresponsive')
    labels = {'reason': 'unresponsive'}
    assert first.registry.get_sample_value(P + 'reports_total', labels) == 1
    assert second.registry.get_sample_value(P + 'reports_total', labels) == 0


def test_ipv6_loopback_listener(metrics):
    try:
        server = MetricsListener(metrics.registry, '::1', 0)
    except OSError as exc:
        pytest.skip('no IPv6 loopback: %s' % exc)
    server.start()
    try:
        assert server.url.startswith('http://[::1]:')
        assert (P + 'reports_total', ('reason', 'unresponsive')) in scrape(server)
    finally:
        server.close()


def test_a_port_in_use_fails_at_construction(metrics, listener):
    with pytest.raises(OSError):
        MetricsListener(metrics.registry, '127.0.0.1', listener.address[1])


# -- [metrics] listen --------------------------------------------------------------


@pytest.mark.parametrize('value,expected', [
    ('9178', ('127.0.0.1', 9178)),
    ('127.0.0.1:9178', ('127.0.0.1', 9178)),
    ('0.0.0.0:9178', ('0.0.0.0', 9178)),
    ('[::1]:9178', ('::1', 9178)),
    ('[::]:0', ('::', 0)),
    ('localhost:80', ('localhost', 80)),
    (' 9178 ', ('127.0.0.1', 9178)),
])
def test_parse_listen(value, expected):
    assert parse_listen(value) == expected


@pytest.mark.parametrize('value', [
    '', ':9178', 'host', 'host:', 'host:port', '1.2.3.4:70000', '::1:9178',
    '[::1]', '[nope]:9178', '-1',
])
def test_parse_listen_refuses(value):
    with pytest.raises(ValueError):
        parse_listen(value)


def load(tmp_path, text):
    path = tmp_path / 'mi.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    for module in (default, introspection, libvirt, masakari, metrics_conf,
                   recovery_conf, status):
        module.register_opts(conf)
    conf(['--config-file', str(path)], default_config_files=[])
    return conf


def test_listen_is_off_by_default(tmp_path):
    assert load(tmp_path, '').metrics.listen is None


def test_a_bad_listen_value_stops_the_service_at_start(tmp_path):
    conf = load(tmp_path, '[metrics]\nlisten = 127.0.0.1:http\n')
    with pytest.raises(validate.ConfigError,
                       match=r'\[metrics\] listen: invalid port'):
        validate.check(conf)


# -- fed by a real monitor -----------------------------------------------------------


def test_metrics_of_a_running_monitor(metrics, listener):
    outbox = RecordingOutbox()
    monitor = make_monitor(InstantHypervisor(), outbox, observer=metrics)
    view = View(monitor, types.SimpleNamespace(connected=True), [],
                hostname='compute-1', dry_run=False, timeout=2)
    metrics.watch(view)
    monitor.start()
    try:
        monitor.resync()

        def ticked_until_reported():
            monitor.tick()
            time.sleep(0.02)
            return outbox.sent

        wait_until(ticked_until_reported)
        samples = scrape(listener)
        assert samples[(P + 'instance_state', ('state', 'healthy'),
                        ('uuid', A))] == 1
        assert samples[(P + 'instance_state', ('state', 'failed'),
                        ('uuid', B))] == 1
        assert samples[(P + 'instance_agent_up', ('uuid', A))] == 1
        assert samples[(P + 'instance_agent_up', ('uuid', B))] == 0
        assert samples[(P + 'instance_consecutive_misses', ('uuid', B))] >= 2
        assert samples[(P + 'reports_total', ('reason', 'unresponsive'))] == 1
        assert samples[(P + 'probes_total', ('outcome', 'ok'))] >= 2
        assert samples[(P + 'probes_total', ('outcome', 'miss'))] >= 2
        assert samples[(P + 'instance_last_notification_timestamp_seconds',
                        ('uuid', B))] == pytest.approx(time.time(), abs=30)
        assert monitor.set_maintenance('vm-b', True).result(2) == B
        samples = scrape(listener)
        assert samples[(P + 'instance_maintenance', ('uuid', B))] == 1
        assert samples[(P + 'instance_state', ('state', 'maintenance'),
                        ('uuid', B))] == 1
        assert (P + 'instance_agent_up', ('uuid', B)) not in samples
    finally:
        monitor.stop(2)


def test_pending_notifications_age_attempts_and_failing(metrics, listener):
    from masakari_introspect.recovery.outbox import PendingNotification
    source = FakeSource([], pending=2)
    source.notifications = [
        PendingNotification(A, 'vm-a', '2026-11-21T17:00:00', age=300.0,
                            attempts=7, last_error='HTTP 503: down',
                            next_attempt=30.0),
        PendingNotification(B, 'vm-b', '2026-11-21T17:04:00', age=20.0,
                            attempts=0, last_error='', next_attempt=0.0)]
    metrics.watch(source)
    samples = scrape(listener)
    assert series(samples, P + 'notification_pending_age_seconds') == {
        (('uuid', A),): 300.0, (('uuid', B),): 20.0}
    assert series(samples, P + 'notification_pending_attempts') == {
        (('uuid', A),): 7.0, (('uuid', B),): 0.0}
    assert series(samples, P + 'notification_pending_failing') == {
        (('uuid', A),): 1.0, (('uuid', B),): 0.0}
    assert samples[(P + 'notification_pending_oldest_age_seconds',)] == 300
    source.notifications.clear()
    samples = scrape(listener)
    assert samples[(P + 'notification_pending_oldest_age_seconds',)] == 0
    assert series(samples, P + 'notification_pending_age_seconds') == {}
