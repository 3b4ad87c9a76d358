"""The worker budget: libvirtd's workers the agent calls may take (issue 17).

The formula, the lanes sized from it with a real monitor and a prober that
holds calls until told (a fake clock drives the fleet), the gauges, and the
options that set it."""

import threading

import pytest

from masakari_introspect.runtime.budget import Budget
from masakari_introspect.conf import validate
from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.tracker import Policy
from masakari_introspect.runtime.monitor import Monitor
from tests.unit.fakes import HOST, FakeClock, RecordingOutbox, domain, load
from tests.unit.fakes import wait_until
from tests.unit.test_start_errors import SAFE, config_error, one_line
from tests.unit.test_start_errors import run_main
from tests.unit.test_metrics import scrape, series


@pytest.mark.parametrize('workers,share,total,suspect,healthy', [
    (20, 0.5, 10, 2, 8),      # the defaults
    (4, 0.5, 2, 1, 1),        # the functional test's libvirtd
    (1, 0.1, 2, 1, 1),        # never below one call per lane
    (20, 1.0, 20, 4, 16),
    (64, 0.33, 21, 5, 16),    # floor, then ceil(B / 5)
])
def test_the_budget_follows_max_workers_and_the_share(
        workers, share, total, suspect, healthy):
    budget = Budget.of(workers, share)
    assert (budget.total, budget.suspect, budget.healthy) == (
        total, suspect, healthy)


@pytest.mark.parametrize('share', [0.0, -0.5, 1.01])
def test_a_share_out_of_range_is_refused(share):
    with pytest.raises(ValueError):
        Budget.of(20, share)


def test_connections_follow_the_per_connection_limit():
    assert Budget.of(20, 0.5).connections(5) == (2, 1)
    assert Budget.of(40, 1.0).connections(5) == (7, 2)
    assert Budget.of(20, 0.5).connections(1) == (8, 2)


# -- the lanes, with a real monitor ----------------------------------------------


class HoldingProber:
    """Guests in ``held`` do not come back until released; counts the calls
    in flight, whichever lane makes them."""

    def __init__(self, held=()):
        self.held = set(held)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.calls = []

    def ping(self, uuid, timeout, osinfo=False):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.calls.append(uuid)
        try:
            if uuid in self.held:
                self.release.wait(30)
                return ProbeResult(uuid, Outcome.MISS, 'timeout')
            return ProbeResult(uuid, Outcome.OK, duration=0.001)
        finally:
            with self.lock:
                self.in_flight -= 1


class Domains:
    def __init__(self, uuids):
        self.domains = [domain(u, 'vm-%d' % i, domain_id=i + 1)
                        for i, u in enumerate(uuids)]

    def list_domains(self):
        return list(self.domains)

    def domain_info(self, uuid):
        return next((d for d in self.domains if d.uuid == uuid), None)

    def activity(self):
        return []

    def vcpus(self):
        return {}

    def ping(self, uuid, timeout, osinfo=False):
        raise AssertionError('probes go to the lanes\' probers')


UUIDS = ['00000000-0000-0000-0000-%012d' % i for i in range(12)]
BUDGET = Budget(total=5, suspect=1)


def budget_monitor(prober, clock):
    fleet = Fleet(Policy(failure_threshold=2, boot_grace_period=0,
                         probe_interval=10),
                  Settings(hostname=HOST, probe_timeout=1,
                           probe_deadline=25),
                  clock=clock, wall=FakeClock(1.7e9))
    return Monitor(Domains(UUIDS), fleet, RecordingOutbox(),
                   probe_timeout=1, lane_size=BUDGET.healthy,
                   suspect_lane_size=BUDGET.suspect, prober=prober,
                   suspect_prober=prober)


def settle(monitor):
    """Wait until the owner thread handled what was posted so far."""
    monitor.query(lambda: None).result(5)


def drained(monitor):
    """Wait until the lanes ran every probe and the owner thread handled
    the results: a lane thread posts its result before it counts itself
    done."""
    settle(monitor)                         # the probes are submitted
    wait_until(lambda: all(calls == (0, 0)
                           for calls in monitor.calls().values()))
    settle(monitor)


def steady(monitor, prober):
    """Wait until the lane threads took every probe they can take, those
    calls are inside the prober, and the owner thread heard that they
    started, before the fake clock moves on.

    settle() alone is not enough: a lane thread the host has not run yet
    posts its start later, and the fleet stamps it with the clock's time
    then, one or more intervals late (so a hung call is abandoned late)."""
    sizes = {'healthy': BUDGET.healthy, 'suspect': BUDGET.suspect}

    def taken():
        calls = monitor.calls()
        busy = sum(calls[lane][0] for lane in sizes)
        # A call enters the prober after its start is posted.
        return prober.in_flight == busy and all(
            calls[lane][1] == 0 or calls[lane][0] == size
            for lane, size in sizes.items())
    settle(monitor)                         # the probes are submitted
    wait_until(taken)
    settle(monitor)


def states(monitor):
    """{uuid: (state, misses)}, from the snapshot's records (dicts, or
    typed records with a label)."""
    found = {}
    for record in monitor.query(monitor.snapshot).result(5):
        if isinstance(record, dict):
            found[record['uuid']] = (record['state'], record['misses'])
        else:
            found[record.uuid] = (record.label, record.misses)
    return found


def test_calls_never_exceed_the_budget_abandoned_ones_included():
    clock, prober = FakeClock(), HoldingProber()
    monitor = budget_monitor(prober, clock)
    monitor.start()
    try:
        monitor.resync()
        monitor.tick()                      # everybody answers once
        drained(monitor)
        assert len(prober.calls) == len(UUIDS)
        hung = UUIDS[:BUDGET.healthy]       # they fill the healthy lane
        prober.held.update(hung)
        for _ in range(5):                  # past the probe deadline
            clock.advance(10)
            monitor.tick()
            steady(monitor, prober)
        # The abandoned calls still hold their threads; the suspect lane
        # takes its one call: the budget, and no more.
        wait_until(lambda: prober.in_flight == BUDGET.total)
        settle(monitor)
        assert monitor.calls()['healthy'][0] == BUDGET.healthy
        assert monitor.calls()['suspect'] == (BUDGET.suspect,
                                              len(hung) - BUDGET.suspect)
        assert prober.most == BUDGET.total
        found = states(monitor)
        for uuid in hung:
            assert found[uuid][0] == 'failed', uuid
        # Queued behind the hung guests' calls, never started: their wait
        # is the service's backlog, not theirs.
        for uuid in UUIDS[BUDGET.healthy:]:
            assert found[uuid] == ('healthy', 0), uuid
        assert monitor.calls()['healthy'][1] == len(UUIDS) - len(hung)
    finally:
        prober.release.set()
        monitor.stop(5)
    assert prober.most == BUDGET.total


def test_the_suspect_lane_takes_at_most_its_share():
    clock, prober = FakeClock(), HoldingProber()
    monitor = budget_monitor(prober, clock)
    monitor.start()
    try:
        monitor.resync()
        prober.held.update(UUIDS)           # all hang from the start
        monitor.tick()                      # grace: the suspect lane
        steady(monitor, prober)
        assert prober.in_flight == BUDGET.suspect
        for _ in range(2):                  # within the probe deadline
            clock.advance(10)
            monitor.tick()
            steady(monitor, prober)
        assert prober.in_flight == BUDGET.suspect
        assert monitor.calls()['suspect'] == (BUDGET.suspect,
                                              len(UUIDS) - BUDGET.suspect)
    finally:
        prober.release.set()
        monitor.stop(5)
    assert prober.most == BUDGET.suspect


# -- what operators see -------------------------------------------------------------


def test_the_gauges_show_the_calls_in_flight_and_queued(metrics, listener):
    metrics.watch_calls(lambda: {'healthy': (8, 120), 'suspect': (2, 7)}, 10)
    samples = scrape(listener)
    prefix = 'masakari_introspect_'
    assert series(samples, prefix + 'agent_call_budget') == {(): 10.0}
    assert series(samples, prefix + 'agent_calls_in_flight') == {
        (('lane', 'healthy'),): 8.0, (('lane', 'suspect'),): 2.0}
    assert series(samples, prefix + 'agent_calls_queued') == {
        (('lane', 'healthy'),): 120.0, (('lane', 'suspect'),): 7.0}


def test_the_service_logs_the_budget(tmp_path, caplog):
    import logging
    from masakari_introspect.service import worker_budget
    caplog.set_level(logging.INFO)
    conf = load(tmp_path, '[libvirt]\nmax_workers = 4\n')
    assert worker_budget(conf) == Budget(2, 1)
    assert "Worker budget: 2 agent calls at once of libvirtd's 4 workers" \
        in caplog.text


# -- the options ----------------------------------------------------------------------


NO_AUTH = ('[masakari]\nauth_type = none\n'
           'endpoint_override = http://127.0.0.1:15868/v1\n')


@pytest.mark.parametrize('text,expected', [
    ('[libvirt]\nworker_share = 0\n',
     'invalid value for [libvirt] worker_share: 0.0 (must be above 0'),
    ('[libvirt]\nworker_share = 1.5\n',
     'invalid value for [libvirt] worker_share:'),
    ('[libvirt]\nworker_share = half\n',
     'invalid value for [libvirt] worker_share:'),
    ('[libvirt]\nmax_workers = 0\n',
     'invalid value for [libvirt] max_workers:'),
])
def test_a_bad_budget_option_is_named(tmp_path, text, expected):
    assert config_error(load(tmp_path, NO_AUTH + text)).startswith(expected)


def test_the_options_the_budget_replaced_are_named_when_set(tmp_path):
    conf = load(tmp_path, NO_AUTH + '[libvirt]\nprobe_connections = 4\n'
                '[introspection]\nmax_concurrent_probes = 64\n')
    warnings = validate.check(conf)
    assert [w.split(' is ')[0] for w in warnings
            if 'deprecated and ignored' in w] == [
        '[libvirt] probe_connections',
        '[introspection] max_concurrent_probes']
    assert validate.check(load(tmp_path, NO_AUTH)) == []


def test_main_stops_on_a_bad_worker_share_naming_it(tmp_path):
    line = one_line(run_main(tmp_path, NO_AUTH + SAFE.replace(
        '[libvirt]\n', '[libvirt]\nworker_share = 0\n')))
    assert '[libvirt] worker_share' in line
