"""The status socket and masakari-introspect-status, on a real unix socket.

The server answers from a fake source (what the service would see); the
client and the command talk to it through a socket in tmp_path.
"""

import io
import json
import os
import pwd
import socket
import stat
import threading

import pytest

from masakari_introspect.cmd import status as status_cmd
from masakari_introspect.conf.errors import ConfigError
from masakari_introspect.ops.status_client import (
    StatusClient,
    StatusError,
    StatusUnavailable,
    Unavailable,
)
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import encode_instance
from masakari_introspect.ops.status_server import StatusServer
from tests.unit.fakes import FakeSource, MONITORING_GID, as_other_user, instance, needs_root

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'


@pytest.fixture
def source():
    return FakeSource([instance(A, 'vm-a'),
                       instance(B, 'vm-b', 'failed', misses=4, since=30.0,
                                last_notification=1_700_000_000.0)])


@pytest.fixture
def server(tmp_path, source):
    srv = StatusServer(tmp_path / 'status.sock', source)
    srv.start()
    yield srv
    srv.close()


def raw_exchange(path, *lines, timeout=5):
    """Send raw request lines on one connection; the answer lines."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(b''.join(lines))
        sock.shutdown(socket.SHUT_WR)
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    return [json.loads(line) for line in data.splitlines()]


def run_cli(*argv):
    out = io.StringIO()
    code = status_cmd.main(list(argv), out=out)
    return code, out.getvalue()


# -- the server ------------------------------------------------------------------


def test_socket_is_private_and_removed_on_close(tmp_path, source):
    path = tmp_path / 'run' / 'status.sock'
    srv = StatusServer(path, source)
    mode = path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.stat().st_uid == os.getuid()
    assert sorted(p.name for p in path.parent.iterdir()) == ['status.sock']
    srv.start()
    srv.close()
    assert not path.exists()


def test_status_answer(server, source):
    snapshot = StatusClient(server.path).status()
    assert snapshot.instances == tuple(source.records)
    assert snapshot.service == ServiceStatus(
        host='compute-1', pid=os.getpid(), dry_run=False,
        libvirt_connected=True, notifications_pending=0)


def test_the_status_answer_on_the_wire(server, source):
    """The JSON field names operators' scripts read (the --json output)."""
    [answer] = raw_exchange(server.path, b'{"command": "status"}\n')
    assert answer['ok'] is True
    assert answer['service'] == {'host': 'compute-1', 'pid': os.getpid(),
                                 'dry_run': False, 'libvirt_connected': True,
                                 'notifications_pending': 0,
                                 'notifications': []}
    assert answer['instances'][1] == {
        'uuid': B, 'name': 'vm-b', 'state': 'failed', 'phase': 'failed',
        'reason': None, 'misses': 4, 'seconds_since_success': 30.0,
        'reported': True, 'last_notification': 1_700_000_000.0,
        'maintenance': False, 'recovery_limited': False,
        'recent_reports': 0, 'monitored': True, 'rule': None}


def test_service_fields_follow_the_source(server, source):
    source.connected = False
    source.spooled = 3
    service = StatusClient(server.path).status().service
    assert service.libvirt_connected is False
    assert service.notifications_pending == 3


@pytest.mark.parametrize('instance_ref', [A, 'vm-a'])
def test_maintenance_by_uuid_or_name(server, source, instance_ref):
    client = StatusClient(server.path)
    assert client.maintenance(instance_ref, True) == {
        'ok': True, 'uuid': A, 'maintenance': True}
    assert source.switched == [(A, True)]
    assert client.status().instances[0].maintenance is True
    client.maintenance(instance_ref, False)
    assert source.switched == [(A, True), (A, False)]


def test_maintenance_of_an_unknown_instance_is_refused(server, source):
    with pytest.raises(StatusError, match="no monitored instance .*'vm-z'"):
        StatusClient(server.path).maintenance('vm-z', True)
    assert source.switched == []


def test_a_busy_monitor_is_reported_not_hung(server, source):
    source.hang = True
    with pytest.raises(StatusError, match='did not answer in time'):
        StatusClient(server.path).status()
    with pytest.raises(StatusError, match='did not answer in time'):
        StatusClient(server.path).maintenance('vm-a', True)


def test_several_requests_on_one_connection(server):
    answers = raw_exchange(server.path,
                           b'{"command": "status"}\n',
                           b'\n',
                           b'{"command": "maintenance", "instance": "vm-b", '
                           b'"on": true}\n')
    assert len(answers) == 2
    assert answers[0]['ok'] and len(answers[0]['instances']) == 2
    assert answers[1] == {'ok': True, 'uuid': B, 'maintenance': True}


@pytest.mark.parametrize('line,error', [
    (b'not json\n', 'not a JSON object'),
    (b'[1, 2]\n', 'not a JSON object'),
    (b'{"command": "reboot"}\n', "unknown command 'reboot'"),
    (b'{}\n', 'unknown command None'),
    (b'{"command": "maintenance", "instance": "vm-a"}\n', '"on"'),
    (b'{"command": "maintenance", "instance": "vm-a", "on": "yes"}\n',
     '"on"'),
    (b'{"command": "maintenance", "instance": "", "on": true}\n',
     '"instance"'),
])
def test_bad_requests_are_refused(server, source, line, error):
    [answer] = raw_exchange(server.path, line)
    assert answer['ok'] is False
    assert error in answer['error']
    assert source.switched == []


def test_an_overlong_request_is_refused_and_the_connection_closed(server):
    answers = raw_exchange(server.path, b'x' * (70 * 1024) + b'\n',
                           b'{"command": "status"}\n')
    assert answers == [{'ok': False, 'error': 'request too long'}]


def test_a_stale_socket_is_replaced(tmp_path, source):
    path = tmp_path / 'status.sock'
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()   # the file stays, nobody listens: a crashed service
    srv = StatusServer(path, source)
    srv.start()
    try:
        assert StatusClient(path).status().service.host == 'compute-1'
    finally:
        srv.close()


def test_a_live_service_is_not_displaced(server, source):
    with pytest.raises(OSError, match='another service answers'):
        StatusServer(server.path, source)
    assert StatusClient(server.path).status().service.host == 'compute-1'


def test_another_file_is_not_replaced(tmp_path, source):
    path = tmp_path / 'status.sock'
    path.write_text('keep me')
    with pytest.raises(OSError, match='not a socket'):
        StatusServer(path, source)
    assert path.read_text() == 'keep me'


def test_an_overlong_path_is_refused(tmp_path, source):
    path = tmp_path / ('x' * 120) / 'status.sock'
    with pytest.raises(OSError, match='longer than 107 bytes'):
        StatusServer(path, source)
    assert not path.parent.exists()


# -- the client ------------------------------------------------------------------


def test_client_without_a_service(tmp_path):
    with pytest.raises(StatusUnavailable, match='not running') as info:
        StatusClient(tmp_path / 'status.sock').status()
    assert info.value.why is Unavailable.NOT_RUNNING


def test_client_with_a_stale_socket(tmp_path):
    path = tmp_path / 'status.sock'
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    with pytest.raises(StatusUnavailable) as info:
        StatusClient(path).status()
    assert info.value.why is Unavailable.NOT_RUNNING


def test_client_times_out_on_a_service_that_does_not_answer(tmp_path):
    path = tmp_path / 'status.sock'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mute:
        mute.bind(str(path))
        mute.listen(1)   # connections queue; nothing is ever read
        with pytest.raises(StatusUnavailable, match='within 0.3 s') as info:
            StatusClient(path, timeout=0.3).status()
    assert info.value.why is Unavailable.TIMEOUT


def serve_once(path, payload):
    """A server that answers any request with ``payload``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def answer():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(payload)
        listener.close()

    threading.Thread(target=answer, daemon=True).start()


@pytest.mark.parametrize('payload', [
    b'garbage\n', b'[1]\n', b'{"x": 1}\n', b'',
    b'{"ok": true, "service": {}}\n',
    b'{"ok": true, "service": {"host": "h", "pid": 1, "dry_run": "no", '
    b'"libvirt_connected": true, "notifications_pending": 0}, '
    b'"instances": []}\n'])
def test_client_rejects_an_answer_it_does_not_understand(tmp_path, payload):
    serve_once(tmp_path / 'status.sock', payload)
    with pytest.raises(StatusUnavailable) as info:
        StatusClient(tmp_path / 'status.sock').status()
    assert info.value.why is Unavailable.PROTOCOL


# -- the command -----------------------------------------------------------------


def test_table(server):
    code, out = run_cli('--socket', str(server.path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == ('Service on compute-1 (pid %d): libvirt connected, '
                        '0 notification(s) pending' % os.getpid())
    header = lines[2].split('  ')
    assert [h.strip() for h in header if h.strip()] == list(
        status_cmd.COLUMNS)
    row_a = next(line for line in lines if line.startswith('vm-a '))
    row_b = next(line for line in lines if line.startswith('vm-b '))
    assert A in row_a and ' healthy ' in row_a and '2 s ago' in row_a
    assert row_a.split()[-1] == 'off'
    assert B in row_b and ' failed ' in row_b and ' 4 ' in row_b
    assert '30 s ago' in row_b
    assert 'never' not in out


def test_render_formats_times_and_maintenance():
    snapshot = Snapshot(ServiceStatus('h', 7, dry_run=True,
                                      libvirt_connected=False,
                                      notifications_pending=2),
                        (instance(since=None, maintenance=True,
                                  state='maintenance',
                                  last_notification=1000.0),))
    text = status_cmd.render(snapshot, now=1000.0 + 600)
    lines = text.splitlines()
    assert lines[0] == ('Service on h (pid 7): libvirt NOT CONNECTED, '
                        '2 notification(s) pending, DRY RUN (nothing is '
                        'sent)')
    assert 'never' in lines[3]
    assert '(10 min ago)' in lines[3]
    assert lines[3].split()[-1] == 'on'


def test_pending_notifications_are_shown_with_their_last_error(
        server, source):
    from masakari_introspect.recovery.outbox import PendingNotification
    source.spooled = 1
    source.notifications = [PendingNotification(
        instance_uuid=A, instance_name='vm-a',
        generated_time='2026-11-21T17:00:00', age=95.0, attempts=4,
        last_error='hook exited with status 1', next_attempt=16.0)]
    code, out = run_cli('--socket', str(server.path))
    assert code == 0
    line = out.splitlines()[1]
    assert line == ('  pending: vm-a %s for 95 s, 4 attempt(s), next in '
                    '16 s; last error: hook exited with status 1' % A)


def test_empty_table():
    snapshot = Snapshot(ServiceStatus('h', 7, False, True, 0), ())
    assert 'No instances monitored.' in status_cmd.render(snapshot)


def test_json(server, source):
    code, out = run_cli('--socket', str(server.path), '--json')
    assert code == 0
    doc = json.loads(out)
    assert doc['ok'] is True
    assert doc['instances'] == [encode_instance(i) for i in source.records]
    assert doc['instances'][0]['state'] == 'healthy'
    assert doc['service']['libvirt_connected'] is True


@pytest.mark.parametrize('where', ['before', 'after'])
def test_maintenance_command(server, source, where):
    args = ['--socket', str(server.path)]
    argv = (args + ['maintenance', 'on', 'vm-b'] if where == 'before'
            else ['maintenance', 'on', 'vm-b'] + args)
    code, out = run_cli(*argv)
    assert code == 0
    assert out == 'Instance %s is in maintenance\n' % B
    assert source.switched == [(B, True)]
    code, out = run_cli('maintenance', 'off', B, '--json', *args)
    assert code == 0
    assert json.loads(out) == {'ok': True, 'uuid': B, 'maintenance': False}


def test_maintenance_command_with_an_unknown_instance(server, capsys):
    code, out = run_cli('--socket', str(server.path), 'maintenance', 'on',
                        'nope')
    assert code == 1
    assert out == ''
    assert "no monitored instance with UUID or name 'nope'" in \
        capsys.readouterr().err


def test_command_when_the_service_is_not_running(tmp_path, capsys):
    code, out = run_cli('--socket', str(tmp_path / 'status.sock'))
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith('masakari-introspect-status: masakari-introspect '
                          'is not running')
    assert 'Traceback' not in err


def test_command_finds_the_socket_in_the_configuration(tmp_path, source):
    state = tmp_path / 'state'
    srv = StatusServer(state / 'status.sock', source)   # the default path
    srv.start()
    try:
        conf = tmp_path / 'mi.conf'
        conf.write_text('[DEFAULT]\nstate_path = %s\n[masakari]\n'
                        'auth_type = none\n' % state)
        code, out = run_cli('--config-file', str(conf), '--json')
        assert code == 0
        assert len(json.loads(out)['instances']) == 2
        conf.write_text('[status]\nsocket_path = %s\n'
                        % (tmp_path / 'elsewhere.sock'))
        code, out = run_cli('--config-file', str(conf))
        assert code == 1
    finally:
        srv.close()


def test_command_with_an_unreadable_configuration(tmp_path, capsys):
    code, _ = run_cli('--config-file', str(tmp_path / 'missing.conf'))
    assert code == 1
    err = capsys.readouterr().err
    assert 'cannot read the configuration' in err
    assert '--socket' in err


def test_command_with_the_socket_disabled(tmp_path, capsys):
    conf = tmp_path / 'mi.conf'
    conf.write_text('[status]\nsocket_path =\n')
    code, _ = run_cli('--config-file', str(conf))
    assert code == 1
    assert 'socket_path is empty' in capsys.readouterr().err


def test_command_as_another_user_is_denied(server):
    if os.getuid() != 0:
        os.chmod(server.path, 0)
    code, err = as_other_user(
        lambda: status_cmd.main(['--socket', str(server.path)],
                                out=io.StringIO()))
    assert code == 1
    assert 'permission denied on %s' % server.path in err
    assert 'Traceback' not in err


# -- read-only access for a monitoring group ---------------------------------------


@needs_root
def test_socket_for_a_monitoring_group(shared_dir, source):
    path = shared_dir / 'run' / 'status.sock'
    srv = StatusServer(path, source, group=MONITORING_GID)
    try:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o660
        assert info.st_gid == MONITORING_GID
        parent = path.parent.stat()
        assert stat.S_IMODE(parent.st_mode) == 0o710
        assert parent.st_gid == MONITORING_GID
    finally:
        srv.close()


@needs_root
def test_a_group_member_reads_the_status_but_cannot_switch(shared_dir,
                                                           source):
    srv = StatusServer(shared_dir / 'status.sock', source,
                       group=MONITORING_GID)
    srv.start()
    try:
        code, err = as_other_user(
            lambda: status_cmd.main(['--socket', str(srv.path)],
                                    out=io.StringIO()),
            groups=[MONITORING_GID])
        assert (code, err) == (0, '')
        code, err = as_other_user(
            lambda: status_cmd.main(['--socket', str(srv.path),
                                     'maintenance', 'on', 'vm-a'],
                                    out=io.StringIO()),
            groups=[MONITORING_GID])
        assert code == 1
        assert 'maintenance is reserved to root and the service' in err
        assert 'uid %d may only read' % pwd.getpwnam('nobody').pw_uid in err
        assert source.switched == []
        # Not in the group: no access at all.
        code, err = as_other_user(
            lambda: status_cmd.main(['--socket', str(srv.path)],
                                    out=io.StringIO()))
        assert code == 1
        assert 'permission denied' in err
        # The service's own user (here root) still switches.
        assert StatusClient(srv.path).maintenance('vm-a', True)['ok']
    finally:
        srv.close()


def test_a_group_that_cannot_reach_the_socket_is_named(tmp_path, source):
    private = tmp_path / 'private'
    private.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match=r'^\[status\] socket_group = '
                       r'48611: the group cannot reach .*private.* is mode '
                       r'0700'):
        StatusServer(private / 'status.sock', source, group=MONITORING_GID)
    assert not (private / 'status.sock').exists()


def test_unknown_peer_credentials_are_trusted_only_in_process(server):
    assert server.answer(b'{"command": "maintenance", "instance": "vm-a", '
                         b'"on": true}', peer_uid=os.geteuid() + 1)[
        'ok'] is False
    assert server.answer(b'{"command": "maintenance", "instance": "vm-a", '
                         b'"on": true}', peer_uid=0)['ok'] is True
