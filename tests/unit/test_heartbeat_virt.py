"""The kernel heartbeat at the libvirt edge (no binding needed) and in the
metrics."""

import dataclasses

from prometheus_client import CollectorRegistry

from masakari_introspect.ops.metrics import Metrics
from masakari_introspect.virt import guest
from masakari_introspect.virt import translate
from masakari_introspect.virt.balloon import BalloonPeriods
from tests.unit.fakes import A, B, FakeSource, instance

XML = "<domain><devices>%s</devices></domain>"
VIRTIO = "<memballoon model='virtio'><stats period='%d'/></memballoon>"


def test_balloon_period_from_the_domain_xml():
    assert translate.balloon_period(XML % (VIRTIO % 10)) == 10
    assert translate.balloon_period(
        XML % "<memballoon model='virtio'/>") == 0
    assert translate.balloon_period(
        XML % "<memballoon model='virtio-non-transitional'/>") == 0
    assert translate.balloon_period(
        XML % "<memballoon model='none'/>") is None
    assert translate.balloon_period(XML % '') is None
    assert translate.balloon_period('<domain') is None


class FakeDomain:
    def __init__(self, period, process=1):
        self.xml = XML % (VIRTIO % period) if period is not None \
            else XML % "<memballoon model='none'/>"
        self.process = process
        self.set_to = []
        self.reads = 0

    def ID(self):
        return self.process

    def XMLDesc(self, flags):
        self.reads += 1
        return self.xml

    def setMemoryStatsPeriod(self, period, flags):
        self.set_to.append((period, flags))


def test_a_period_that_is_off_or_longer_is_set_live_once_per_process():
    periods = BalloonPeriods(2)
    off, long_, short, none = (FakeDomain(0), FakeDomain(10), FakeDomain(1),
                               FakeDomain(None))
    for _ in range(3):
        assert periods.period(off, 'off') == 2
        assert periods.period(long_, 'long') == 2
        assert periods.period(short, 'short') == 1
        assert periods.period(none, 'none') == 0
    assert off.set_to == [(2, 1)] and long_.set_to == [(2, 1)]
    assert short.set_to == [] and none.set_to == []
    assert off.reads == 1
    off.process = 2                        # a new QEMU process
    periods.period(off, 'off')
    assert off.set_to == [(2, 1), (2, 1)]


def test_with_period_0_every_period_is_left_alone():
    periods = BalloonPeriods(0)
    off, long_ = FakeDomain(0), FakeDomain(10)
    assert periods.period(off, 'off') == 0
    assert periods.period(long_, 'long') == 10
    assert off.set_to == [] and long_.set_to == []


def test_domains_gone_are_forgotten():
    periods = BalloonPeriods(2)
    dom = FakeDomain(0)
    periods.period(dom, 'a')
    periods.keep(set())
    periods.period(dom, 'a')
    assert dom.reads == 2


def test_the_heartbeat_is_read_from_a_statistics_record():
    stats = {'block.count': 1, 'block.0.rd.reqs': 3, 'block.0.wr.reqs': 4,
             'balloon.current': 1024, 'balloon.last-update': 1_700_000_000}
    found = guest.activity(A, stats, 2)
    assert (found.disk_requests, found.heartbeat, found.heartbeat_period) \
        == (7, 1_700_000_000, 2)
    # a job holding the domain: NOWAIT leaves the balloon fields out
    hidden = guest.activity(A, {'block.count': 0}, 2)
    assert hidden.heartbeat is None
    # never answered: libvirt may give 0
    assert guest.activity(A, {'balloon.last-update': 0}, 2).heartbeat is None


def test_heartbeat_age_gauge_and_statistics_duration():
    metrics = Metrics(CollectorRegistry(), process=False)
    metrics.watch(FakeSource([
        dataclasses.replace(instance(A, 'vm-a'), heartbeat_age=1.5),
        instance(B, 'vm-b')], connected=True, pending=0))
    metrics.statistics_read(0.02)
    registry = metrics.registry
    assert registry.get_sample_value(
        'masakari_introspect_instance_heartbeat_age_seconds',
        {'uuid': A}) == 1.5
    assert registry.get_sample_value(
        'masakari_introspect_instance_heartbeat_age_seconds',
        {'uuid': B}) is None
    assert registry.get_sample_value(
        'masakari_introspect_statistics_duration_seconds_count',
        {'call': 'bulk'}) == 1
    assert registry.get_sample_value(
        'masakari_introspect_statistics_duration_seconds_count',
        {'call': 'vcpu'}) == 0
    metrics.statistics_read(0.001, 'vcpu')
    assert registry.get_sample_value(
        'masakari_introspect_statistics_duration_seconds_count',
        {'call': 'vcpu'}) == 1
    assert registry.get_sample_value(
        'masakari_introspect_reports_total', {'reason': 'kernel_hung'}) == 0


def test_status_json_and_table_carry_the_heartbeat_age():
    from masakari_introspect.cmd import status as status_cmd
    from masakari_introspect.ops import snapshot
    with_beat = dataclasses.replace(instance(A, 'vm-a'), heartbeat_age=4.0)
    doc = snapshot.encode_instance(with_beat)
    assert doc['heartbeat_age'] == 4.0
    assert 'heartbeat_age' not in snapshot.encode_instance(instance(B))
    assert snapshot._decode_instance(doc).heartbeat_age == 4.0
    assert 'HEARTBEAT' in status_cmd.COLUMNS


def test_vcpu_run_time_and_delay_are_read_per_vcpu():
    stats = {'vcpu.current': 2, 'vcpu.maximum': 2,
             'vcpu.0.time': 10, 'vcpu.0.delay': 3,
             'vcpu.1.time': 20}
    assert guest.vcpus(stats) == ((10, 3), (20, 0))
    assert guest.vcpus({}) == ()


class StatsConn:
    """Records each getAllDomainStats call: (groups, flags)."""

    def __init__(self, records):
        self.records = records
        self.calls = []

    def getAllDomainStats(self, groups, flags):
        self.calls.append((groups, flags))
        return self.records


class UUIDDomain:
    def __init__(self, uuid):
        self.uuid = uuid

    def UUIDString(self):
        return self.uuid


def test_the_vcpu_figures_come_from_a_call_of_their_own():
    # The bulk call's groups ask each QEMU (a starved one answers late);
    # the vCPU figures are read in a call of the VCPU group alone, NOWAIT.
    conn = StatsConn([(UUIDDomain(A), {'vcpu.current': 1, 'vcpu.0.time': 5,
                                       'vcpu.0.delay': 7})])
    assert guest.vcpu_times(conn) == {A: ((5, 7),)}
    assert conn.calls == [(guest.STATS_VCPU,
                           guest.STATS_ACTIVE | guest.STATS_NOWAIT)]
    conn.calls.clear()
    guest.activities(conn)
    [(groups, _flags)] = conn.calls
    assert not groups & guest.STATS_VCPU
    assert groups & guest.STATS_BLOCK


class ListConn:
    """domainListGetStats of the domains looked up; one is gone."""

    def __init__(self, gone=()):
        self.gone = set(gone)
        self.calls = []

    def lookupByUUIDString(self, uuid):
        if uuid in self.gone:
            raise _no_domain()
        return StatsDomain(uuid)

    def domainListGetStats(self, domains, groups, flags):
        self.calls.append(([d.UUIDString() for d in domains], groups, flags))
        return [(d, {'block.count': 1, 'block.0.rd.reqs': 2,
                     'balloon.last-update': 1_700_000_005})
                for d in domains]


class StatsDomain(FakeDomain):
    def __init__(self, uuid):
        super().__init__(1)
        self.uuid = uuid

    def UUIDString(self):
        return self.uuid


def _no_domain():
    import libvirt

    from masakari_introspect.virt import errors

    class Error(libvirt.libvirtError):
        def __init__(self):
            Exception.__init__(self, 'no domain')

        def get_error_code(self):
            return errors.ERR_NO_DOMAIN

    return Error()


def test_a_few_guests_are_read_in_one_call_with_their_heartbeat():
    conn = ListConn(gone={B})
    found = guest.activities_of(conn, (A, B), BalloonPeriods(0))
    assert [(a.uuid, a.disk_requests, a.heartbeat, a.heartbeat_period)
            for a in found] == [(A, 2, 1_700_000_005, 1)]
    uuids, groups, flags = conn.calls[0]
    assert uuids == [A]
    assert groups == guest.STATS_BLOCK | guest.STATS_INTERFACE | \
        guest.STATS_BALLOON
    assert flags == guest.STATS_ACTIVE | guest.STATS_NOWAIT
    assert guest.activities_of(ListConn(gone={A}), (A,)) == []
