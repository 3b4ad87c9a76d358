"""``[DEFAULT] dry_run``: everything but sending."""

import json
import logging
import threading
import time
import urllib.request

import pytest
from oslo_config import cfg
from prometheus_client import CollectorRegistry

from masakari_introspect.cmd import check as check_cmd
from masakari_introspect.conf import (
    default,
    introspection,
    libvirt,
    masakari,
    metrics as metrics_conf,
    recovery as recovery_conf,
    status as status_conf,
)
from masakari_introspect.ops.metrics import Metrics
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.dry_run import DryRunOutbox
from masakari_introspect.ops.status_client import StatusClient
from masakari_introspect.ops.snapshot import encode_instance
from tests.unit.fakes import InstantHypervisor, make_monitor, wait_until
from tests.unit.fakes import B

LOGGER = 'masakari_introspect.recovery.dry_run'


def logged_body(record):
    """The JSON body at the end of the dry-run WARNING."""
    message = record.getMessage()
    return json.loads(message[message.index('{'):])


def test_nothing_is_sent_and_the_exact_body_is_logged(caplog):
    seen = []
    outbox = DryRunOutbox(on_dry_run=seen.append)
    notification = Notification.create(B, 'compute-1')
    with caplog.at_level(logging.DEBUG, LOGGER):
        assert outbox.submit(notification) is True
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        'dry_run: not notifying Masakari about instance %s; would have sent '
        'POST /notifications {' % B)
    assert logged_body(record) == notification.body()
    assert record.getMessage().endswith(json.dumps(notification.body()))
    assert seen == [notification]


def test_dry_run_is_counted_in_the_metrics():
    metrics = Metrics(CollectorRegistry(), process=False)
    outbox = DryRunOutbox(on_dry_run=metrics.dry_run)
    outbox.submit(Notification.create(B, 'compute-1'))
    outbox.submit(Notification.create(B, 'compute-1'))
    value = metrics.registry.get_sample_value(
        'masakari_introspect_notifications_total', {'result': 'dry_run'})
    assert value == 2
    assert metrics.registry.get_sample_value(
        'masakari_introspect_notifications_total',
        {'result': 'delivered'}) == 0


def test_a_monitor_in_dry_run_decides_as_usual(caplog):
    monitor = make_monitor(InstantHypervisor(), DryRunOutbox())
    monitor.start()
    try:
        with caplog.at_level(logging.INFO):
            monitor.resync()

            def dry_run_logged():
                monitor.tick()
                time.sleep(0.02)
                return [r for r in caplog.records if r.name == LOGGER]

            wait_until(dry_run_logged)
        [record] = [r for r in caplog.records if r.name == LOGGER]
        body = logged_body(record)['notification']
        assert body['hostname'] == 'compute-1'
        assert body['payload'] == {'event': 'QEMU_GUEST_AGENT_ERROR',
                                   'instance_uuid': B,
                                   'vir_domain_event': 'STOPPED_FAILED'}
        snapshot = {i.uuid: encode_instance(i) for i in
                    monitor.query(monitor.snapshot).result(2)}
        assert snapshot[B]['state'] == 'failed'
        assert snapshot[B]['last_notification'] is not None
    finally:
        monitor.stop(2)


def test_the_option():
    [opt] = [o for o in default.default_opts if o.name == 'dry_run']
    assert opt.default is False
    assert 'log at WARNING' in opt.help


# -- a running service (libvirt's in-process test driver, no daemon) ------------


def make_conf(tmp_path, text):
    path = tmp_path / 'mi.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    for module in (default, introspection, libvirt, masakari, metrics_conf,
                   recovery_conf, status_conf):
        module.register_opts(conf)
    conf(['--config-file', str(path)], default_config_files=[])
    return conf


def test_a_service_in_dry_run(tmp_path, capsys):
    pytest.importorskip('libvirt')
    from masakari_introspect.service import Service

    state = tmp_path / 'state'
    # No [masakari] section at all: nothing is built to send.
    conf = make_conf(tmp_path, '[DEFAULT]\nstate_path = %s\ndry_run = true\n'
                     '[libvirt]\nconnection_uri = test:///default\n'
                     '[metrics]\nlisten = 127.0.0.1:0\n' % state)
    service = Service(conf)
    assert service.sender is None
    assert service.metrics_listener is not None
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        client = StatusClient(state / 'status.sock')
        wait_until(lambda: client.status().service.libvirt_connected,
                   timeout=10)
        snapshot = client.status()
        assert snapshot.service.dry_run is True
        assert snapshot.instances == ()   # test driver: no agent channel
        with urllib.request.urlopen(service.metrics_listener.url,
                                    timeout=10) as response:
            text = response.read().decode()
        assert 'masakari_introspect_libvirt_connected 1.0' in text
        assert 'masakari_introspect_monitor_responsive 1.0' in text
        assert 'masakari_introspect_notifications_total{result="dry_run"} ' \
            '0.0' in text
        assert check_cmd.main(['--socket', str(state / 'status.sock')]) == \
            check_cmd.WARNING
        assert 'dry run' in capsys.readouterr().out
    finally:
        service.request_stop()
        runner.join(15)
    assert not runner.is_alive()
    assert not (state / 'status.sock').exists()
    assert list((state / 'spool').iterdir()) == []
