"""masakari-introspect-check: Nagios exit codes and status line, against a
real status socket served from a fake source."""

import io
import os
import socket
import threading

import pytest

from masakari_introspect.cmd import check
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.status_server import StatusServer
from tests.unit.fakes import A, B, FakeSource, MONITORING_GID, as_other_user, instance, needs_root

C = '00000000-0000-0000-0000-00000000000c'


def answer(instances=(), *, connected=True, pending=0, dry_run=False):
    return Snapshot(ServiceStatus('compute-1', 1, dry_run=dry_run,
                                  libvirt_connected=connected,
                                  notifications_pending=pending),
                    tuple(instances))


def healthy(n):
    return [instance('u%d' % i, 'vm-%d' % i) for i in range(n)]


def split(line):
    text, _, perfdata = line.partition(' | ')
    return text, dict(item.split('=', 1) for item in perfdata.split())


# -- evaluate: the decision ----------------------------------------------------------


def test_all_healthy_is_ok():
    code, line = check.evaluate(answer(healthy(5)))
    assert code == check.OK
    assert line == ('MASAKARI-INTROSPECT OK - 5 instances, 0 failing | '
                    'instances=5 failing=0;;0;0 pending=0;0;;0 '
                    'no_agent=0;0;;0 healthy=5 maintenance=0 '
                    'libvirt_connected=1')


def test_no_instances_is_ok():
    code, line = check.evaluate(answer())
    assert code == check.OK
    assert line.startswith('MASAKARI-INTROSPECT OK - 0 instances, 0 failing')


@pytest.mark.parametrize('state', ['failing', 'failed'])
def test_a_failing_instance_is_critical(state):
    code, line = check.evaluate(answer(
        healthy(2) + [instance(B, 'vm-b', state, misses=2)]))
    assert code == check.CRITICAL
    text, perf = split(line)
    assert text == ('MASAKARI-INTROSPECT CRITICAL - 3 instances, 1 failing: '
                    'failing: vm-b (%s)' % state)
    assert perf['failing'] == '1;;0;0'
    assert perf['healthy'] == '2'


def test_many_failing_instances_are_summed_up():
    failing = [instance('f%d' % i, 'vm-f%d' % i, 'failed') for i in range(5)]
    code, line = check.evaluate(answer(failing))
    assert code == check.CRITICAL
    assert 'vm-f0 (failed), vm-f1 (failed), vm-f2 (failed) and 2 more' in line
    assert 'vm-f3' not in line


@pytest.mark.parametrize('state', ['grace', 'paused', 'maintenance'])
def test_states_that_are_not_failures(state):
    code, line = check.evaluate(answer([instance(A, 'vm-a', state)]))
    assert code == check.OK
    assert split(line)[1]['maintenance'] == str(int(state == 'maintenance'))


@pytest.mark.parametrize('state,code,finding', [
    ('failure_pause', check.CRITICAL, 'failing: vm-a (failure_pause)'),
    ('recovery limit reached', check.CRITICAL,
     'recovery limit reached: vm-a'),
    ('agent failed, guest active', check.WARNING,
     '1 instance(s) with a failed agent, guest active'),
])
def test_states_that_alert(state, code, finding):
    got, line = check.evaluate(answer([instance(A, 'vm-a', state)]))
    assert got == code
    assert finding in split(line)[0]


def test_libvirt_unreachable_is_critical():
    code, line = check.evaluate(answer(healthy(1), connected=False))
    assert code == check.CRITICAL
    assert 'libvirt unreachable' in line
    assert split(line)[1]['libvirt_connected'] == '0'


def test_pending_notifications_are_a_warning():
    code, line = check.evaluate(answer(healthy(2), pending=3))
    assert code == check.WARNING
    text, perf = split(line)
    assert text == ('MASAKARI-INTROSPECT WARNING - 2 instances, 0 failing: '
                    '3 notification(s) pending')
    assert perf['pending'] == '3;0;;0'


def test_an_agent_that_never_answered_is_a_warning():
    code, line = check.evaluate(answer([instance(A, 'vm-a', 'no_agent')]))
    assert code == check.WARNING
    assert '1 instance(s) whose agent never answered' in line


def test_dry_run_is_a_warning():
    code, line = check.evaluate(answer(healthy(1), dry_run=True))
    assert code == check.WARNING
    assert 'dry run' in line


def test_the_worst_finding_wins_and_comes_first():
    code, line = check.evaluate(answer(
        [instance(A, 'vm-a', 'failed')], pending=1, connected=False))
    assert code == check.CRITICAL
    details = line.split(' | ')[0].split(': ', 1)[1]
    assert details.index('libvirt') < details.index('pending')
    assert details.index('vm-a') < details.index('pending')


def test_thresholds():
    loose = check.Thresholds(warning_failing=0, critical_failing=2,
                             warning_pending=None, critical_pending=5,
                             warning_no_agent=None)
    one_failed = answer([instance(A, 'vm-a', 'failed'),
                         instance(B, 'vm-b', 'no_agent')], pending=3)
    code, line = check.evaluate(one_failed, loose)
    assert code == check.WARNING
    assert 'pending' not in line.split(' | ')[0]
    assert 'never answered' not in line
    perf = split(line)[1]
    assert perf['failing'] == '1;0;2;0'
    assert perf['pending'] == '3;;5;0'
    assert perf['no_agent'] == '1'
    code, _ = check.evaluate(answer(pending=6), loose)
    assert code == check.CRITICAL


# -- the command against a status socket ------------------------------------------------


@pytest.fixture
def source():
    return FakeSource(healthy(2))


@pytest.fixture
def sock(tmp_path, source):
    server = StatusServer(tmp_path / 'status.sock', source)
    server.start()
    yield server.path
    server.close()


def run(*argv, capsys):
    code = check.main([str(a) for a in argv])
    out = capsys.readouterr().out
    assert out.count('\n') == 1, out   # exactly one line
    return code, out.strip()


def test_ok(sock, capsys):
    code, line = run('--socket', sock, capsys=capsys)
    assert code == 0
    assert line.startswith('MASAKARI-INTROSPECT OK - 2 instances, 0 failing |')


def test_warning(sock, source, capsys):
    source.spooled = 1
    code, line = run('--socket', sock, capsys=capsys)
    assert code == 1
    assert line.startswith('MASAKARI-INTROSPECT WARNING - ')


def test_critical(sock, source, capsys):
    source.records.append(instance(C, 'vm-c', 'failed', misses=3))
    code, line = run('--socket', sock, capsys=capsys)
    assert code == 2
    assert 'CRITICAL - 3 instances, 1 failing: failing: vm-c (failed)' in line


def test_thresholds_from_the_command_line(sock, source, capsys):
    source.records.append(instance(C, 'vm-c', 'failing', misses=1))
    source.spooled = 1
    code, line = run('--socket', sock, '--critical-failing', '1',
                     '--warning-failing', 'none', '--warning-pending', 'off',
                     capsys=capsys)
    assert code == 0
    assert 'failing=1;;1;0' in line


def test_service_not_running_is_critical(tmp_path, capsys):
    code, line = run('--socket', tmp_path / 'status.sock', capsys=capsys)
    assert code == 2
    assert line.startswith('MASAKARI-INTROSPECT CRITICAL - masakari-introspect'
                           ' is not running')


def test_a_monitor_that_does_not_answer_is_critical(sock, source, capsys):
    source.hang = True
    code, line = run('--socket', sock, capsys=capsys)
    assert code == 2
    assert 'did not answer in time' in line


def test_a_service_that_does_not_answer_is_critical(tmp_path, capsys):
    path = tmp_path / 'status.sock'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(path))
        mute.listen(1)
        code, line = run('--socket', path, '--timeout', '0.3', capsys=capsys)
    assert code == 2
    assert 'did not answer' in line


def test_an_answer_it_cannot_read_is_unknown(tmp_path, capsys):
    path = tmp_path / 'status.sock'
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def answer_oddly():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b'{"ok": true, "service": {}}\n')
        listener.close()

    threading.Thread(target=answer_oddly, daemon=True).start()
    code, line = run('--socket', path, capsys=capsys)
    assert code == 3
    assert line.startswith('MASAKARI-INTROSPECT UNKNOWN - unexpected answer')


def test_usage_errors_are_unknown(capsys):
    with pytest.raises(SystemExit) as info:
        check.main(['--warning-pending', 'many'])
    assert info.value.code == 3
    assert 'UNKNOWN' in capsys.readouterr().out


def test_an_unreadable_configuration_is_unknown(tmp_path, capsys):
    code, line = run('--config-file', tmp_path / 'missing.conf',
                     capsys=capsys)
    assert code == 3
    assert 'cannot read the configuration' in line


def test_socket_from_the_configuration(tmp_path, source, capsys):
    conf = tmp_path / 'mi.conf'
    conf.write_text('[status]\nsocket_path = %s\n' % (tmp_path / 's.sock'))
    server = StatusServer(tmp_path / 's.sock', source)
    server.start()
    try:
        code, line = run('--config-file', conf, capsys=capsys)
    finally:
        server.close()
    assert code == 0
    assert ' OK - 2 instances' in line


def test_permission_denied_is_unknown(sock):
    if os.getuid() != 0:
        os.chmod(sock, 0)
    out = io.StringIO()

    def run_check():
        import sys
        sys.stdout = out
        code = check.main(['--socket', str(sock)])
        sys.stderr.write(out.getvalue())
        return code

    code, printed = as_other_user(run_check)
    assert code == 3
    assert printed.startswith('MASAKARI-INTROSPECT UNKNOWN - permission '
                              'denied on %s' % sock)


@needs_root
def test_the_check_runs_as_a_monitoring_group_member(shared_dir, source):
    """No sudo: the plugin's user is in [status] socket_group."""
    server = StatusServer(shared_dir / 'status.sock', source,
                          group=MONITORING_GID)
    server.start()
    out = io.StringIO()

    def run_check():
        import sys
        sys.stdout = out
        code = check.main(['--socket', str(server.path)])
        sys.stderr.write(out.getvalue())
        return code

    try:
        code, printed = as_other_user(run_check, groups=[MONITORING_GID])
    finally:
        server.close()
    assert code == 0, printed
    assert printed.startswith('MASAKARI-INTROSPECT OK - 2 instances, '
                              '0 failing | ')
