"""Application probes as operators see them: status (text and JSON),
metrics and the check, from one InstanceStatus."""

import dataclasses


from masakari_introspect.cmd import check
from masakari_introspect.cmd import status as status_cmd
from masakari_introspect.core.status import AppProbeStatus
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import decode
from masakari_introspect.ops.snapshot import encode
from tests.unit.fakes import A, B, C, FakeSource, instance
from tests.unit.test_metrics import P, scrape, series

WEB_OK = AppProbeStatus('web', 'report', runs=4, last_duration=1.5,
                        last_exit_code=0)
WEB_FAILED = AppProbeStatus('web', 'report', failing=True, failures=3,
                            runs=7, failed_runs=3, last_duration=0.3,
                            last_exit_code=1)
DB_WARN = AppProbeStatus('db', 'warn', failing=True, failures=2, runs=2,
                         failed_runs=2, last_exit_code=2)
REFUSED = AppProbeStatus('web', 'report', refused=True)


def with_probes(uuid, name, *probes):
    return dataclasses.replace(instance(uuid, name), probes=probes)


def snapshot(*instances):
    return Snapshot(ServiceStatus('compute-1', 1, dry_run=False,
                                  libvirt_connected=True,
                                  notifications_pending=0),
                    tuple(instances))


def test_json_round_trip_keeps_the_probes():
    answer = snapshot(with_probes(A, 'vm-a', WEB_FAILED, DB_WARN),
                      instance(B, 'vm-b'))
    doc = encode(answer)
    assert doc['instances'][0]['application'] == 'failed'
    assert 'probes' not in doc['instances'][1]
    assert decode(doc) == answer


def test_check_warns_of_a_warn_episode_and_counts_a_reported_one():
    code, line = check.evaluate(snapshot(
        with_probes(A, 'vm-a', WEB_OK, DB_WARN), with_probes(B, 'vm-b',
                                                             REFUSED)))
    assert code == check.WARNING
    assert 'application probe failing: vm-a (db)' in line
    code, line = check.evaluate(snapshot(with_probes(C, 'vm-c', WEB_FAILED)))
    assert code == check.CRITICAL
    assert 'failing: vm-c' in line
    assert check.evaluate(snapshot(with_probes(A, 'vm-a', WEB_OK)))[0] \
        == check.OK


def test_status_table_has_an_application_column_only_with_probes():
    text = status_cmd.render(snapshot(instance(A, 'vm-a')), now=0)
    assert 'APPLICATION' not in text
    text = status_cmd.render(snapshot(
        with_probes(A, 'vm-a', WEB_FAILED, DB_WARN),
        with_probes(B, 'vm-b', REFUSED), instance(C, 'vm-c')), now=0)
    rows = {line.split()[0]: line for line in text.splitlines()[3:]}
    assert rows['vm-a'].endswith('web FAILED, db FAILED (warn)')
    assert rows['vm-b'].endswith('web not allowed by the agent')
    assert rows['vm-c'].endswith(' -')


def test_metrics_per_probe(metrics, listener):
    metrics.watch(FakeSource([with_probes(A, 'vm-a', WEB_FAILED, DB_WARN),
                              with_probes(B, 'vm-b', REFUSED)]))
    samples = scrape(listener)
    assert series(samples, P + 'application_probe_runs_total') == {
        (('probe', 'web'), ('uuid', A)): 7,
        (('probe', 'db'), ('uuid', A)): 2,
        (('probe', 'web'), ('uuid', B)): 0}
    assert series(samples, P + 'application_probe_failures_total')[
        (('probe', 'web'), ('uuid', A))] == 3
    assert series(samples, P + 'application_probe_last_duration_seconds') \
        == {(('probe', 'web'), ('uuid', A)): 0.3}
    assert series(samples, P + 'application_probe_failing') == {
        (('on_failure', 'report'), ('probe', 'web'), ('uuid', A)): 1,
        (('on_failure', 'warn'), ('probe', 'db'), ('uuid', A)): 1,
        (('on_failure', 'report'), ('probe', 'web'), ('uuid', B)): 0}
    assert series(samples, P + 'application_probe_refused')[
        (('probe', 'web'), ('uuid', B))] == 1
