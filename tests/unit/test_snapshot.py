"""The typed status snapshot: its JSON round trip, and every Phase known to
every reader (metrics, check, status)."""

import json

import pytest

from masakari_introspect.cmd import check
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.ops import gauges
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import decode
from masakari_introspect.ops.snapshot import encode
from masakari_introspect.ops.status_server import StatusServer
from masakari_introspect.ops.status_client import StatusClient
from tests.unit.fakes import FakeSource

SERVICE = ServiceStatus('compute-1', 42, dry_run=False,
                        libvirt_connected=True, notifications_pending=1)


def every_kind_of_instance():
    """One instance per phase, and the overlays: maintenance, the recovery
    limit, and an instance in maintenance that is not on this host."""
    statuses = [InstanceStatus('u-%s' % phase.name, 'vm-%s' % phase.name,
                               phase) for phase in Phase]
    statuses += [
        InstanceStatus('u-failed', 'vm-failed', Phase.FAILED,
                       Reason.UNRESPONSIVE, misses=3,
                       seconds_since_success=61.5, reported=True,
                       last_notification=1_700_000_000.25,
                       recent_reports=2),
        InstanceStatus('u-limited', 'vm-limited', Phase.FAILED, Reason.CRASHED,
                       recovery_limited=True, recent_reports=3),
        InstanceStatus('u-maint', 'vm-maint', Phase.HEALTHY,
                       maintenance=True),
        InstanceStatus('u-absent', '(not on this host)', None,
                       maintenance=True, absent_seconds=3600),
    ]
    return tuple(statuses)


def test_encode_then_decode_gives_the_same_snapshot():
    snapshot = Snapshot(SERVICE, every_kind_of_instance())
    doc = json.loads(json.dumps(encode(snapshot)))
    assert decode(doc) == snapshot


def test_the_server_encodes_what_the_client_decodes(tmp_path):
    instances = every_kind_of_instance()
    source = FakeSource(instances, connected=False, pending=5, dry_run=True)
    server = StatusServer(tmp_path / 'status.sock', source)
    server.start()
    try:
        snapshot = StatusClient(server.path).status()
    finally:
        server.close()
    assert snapshot.instances == instances
    assert snapshot.service.libvirt_connected is False
    assert snapshot.service.notifications_pending == 5
    assert snapshot.service.dry_run is True


@pytest.mark.parametrize('status,label', [
    (InstanceStatus('u', 'vm', Phase.ACTIVE), 'agent failed, guest active'),
    (InstanceStatus('u', 'vm', Phase.FAILED, recovery_limited=True),
     'recovery limit reached'),
    (InstanceStatus('u', 'vm', Phase.FAILED, recovery_limited=True,
                    maintenance=True), 'maintenance'),
    (InstanceStatus('u', 'vm', None, maintenance=True), 'maintenance'),
])
def test_the_label_puts_maintenance_then_the_limit_before_the_phase(
        status, label):
    assert status.label == label


def test_only_an_absent_instance_has_absent_seconds_on_the_wire():
    docs = encode(Snapshot(SERVICE, every_kind_of_instance()))['instances']
    assert [d['uuid'] for d in docs if 'absent_seconds' in d] == ['u-absent']


# -- every Phase, every reader ------------------------------------------------------


@pytest.mark.parametrize('phase', list(Phase))
def test_every_phase_has_its_metric_value(phase):
    """A new Phase needs its line in ops/gauges.py AGENT_UP."""
    assert phase in gauges.AGENT_UP
    assert gauges.AGENT_UP[phase] in (0.0, 1.0, None)


@pytest.mark.parametrize('phase', list(Phase))
def test_every_phase_has_its_check_kind(phase):
    """A new Phase needs its line in cmd/check.py KIND."""
    assert isinstance(check.KIND[phase], check.Kind)
    status = InstanceStatus('u', 'vm', phase)
    assert check.kind(status) is check.KIND[phase]
    code, line = check.evaluate(Snapshot(SERVICE, (status,)),
                                check.Thresholds(warning_pending=None))
    assert code in (check.OK, check.WARNING, check.CRITICAL)
    assert (code == check.OK) == (check.KIND[phase] in (
        check.Kind.QUIET, check.Kind.HEALTHY)), line


def test_the_maps_name_nothing_but_phases():
    assert set(gauges.AGENT_UP) == set(Phase)
    assert set(check.KIND) == set(Phase)


def test_only_a_healthy_agent_is_up():
    assert [p for p, up in gauges.AGENT_UP.items() if up] == [Phase.HEALTHY]
