"""sd_notify and the watchdog on real unix datagram sockets; SIGHUP reload
and the notifications of the real service (libvirt's in-process test
driver: no libvirtd)."""

import concurrent.futures
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid

import pytest
from oslo_config import cfg
from oslo_log import log as oslo_logging

from masakari_introspect.conf import reload as conf_reload
from masakari_introspect.ops import systemd
from tests.unit.fakes import ROOT
from tests.unit.fakes import wait_until


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / 'notify')
    sock.bind(path)
    sock.settimeout(10)
    yield path, sock
    sock.close()


def test_notify_sends_one_datagram(listener):
    path, sock = listener
    assert systemd.notify('READY=1', 'STATUS=Monitoring',
                          environ={'NOTIFY_SOCKET': path})
    assert sock.recv(4096) == b'READY=1\nSTATUS=Monitoring'


def test_notify_to_the_abstract_namespace():
    name = 'mi-test-%s' % uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind('\0' + name)
        sock.settimeout(10)
        assert systemd.notify('STOPPING=1',
                              environ={'NOTIFY_SOCKET': '@' + name})
        assert sock.recv(4096) == b'STOPPING=1'


@pytest.mark.parametrize('environ', [{}, {'NOTIFY_SOCKET': ''},
                                     {'NOTIFY_SOCKET': 'vsock:2:1'}])
def test_notify_outside_systemd_does_nothing(environ):
    assert systemd.notify('READY=1', environ=environ) is False


def test_notify_to_a_missing_socket_is_a_warning_not_an_error(tmp_path):
    assert systemd.notify('READY=1', environ={
        'NOTIFY_SOCKET': str(tmp_path / 'gone')}) is False


@pytest.mark.parametrize('environ,expected', [
    ({}, None),
    ({'WATCHDOG_USEC': '60000000'}, 30.0),
    ({'WATCHDOG_USEC': '60000000', 'WATCHDOG_PID': '42'}, 30.0),
    ({'WATCHDOG_USEC': '60000000', 'WATCHDOG_PID': '43'}, None),
    ({'WATCHDOG_USEC': '0'}, None),
    ({'WATCHDOG_USEC': 'x'}, None),
])
def test_watchdog_period(environ, expected):
    assert systemd.watchdog_period(environ, pid=42) == expected


class Loop:
    """A decision thread with query(), like the monitor's; can hang."""

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self.unblock = threading.Event()
        self.unblock.set()

    def query(self, func, *args):
        return self._pool.submit(self._run, func, *args)

    def _run(self, func, *args):
        self.unblock.wait()
        return func(*args)

    def close(self):
        self.unblock.set()
        self._pool.shutdown()


def test_answers_only_while_the_loop_runs():
    loop = Loop()
    try:
        assert systemd.answers(loop, 1.0) is True
        loop.unblock.clear()
        assert systemd.answers(loop, 0.1) is False
    finally:
        loop.close()


def test_watchdog_is_fed_only_while_the_loop_answers(caplog):
    """Rounds driven by the test: alive() answers from a script, and each
    round is numbered, so what was sent in which round is exact."""
    script = queue.Queue()
    rounds = []
    sent = queue.Queue()

    def alive(timeout):
        answer = script.get(timeout=10)
        rounds.append(answer)
        return answer

    def send(*states):
        sent.put((len(rounds), states))
        return True

    watchdog = systemd.Watchdog(0.001, alive, send=send)
    watchdog.start()
    try:
        script.put(True)
        assert sent.get(timeout=10) == (1, ('WATCHDOG=1',))
        script.put(False)                 # the decision thread hangs
        script.put(False)
        script.put(True)                  # ... and answers again
        assert sent.get(timeout=10) == (4, ('WATCHDOG=1',))
        assert rounds == [True, False, False, True]
        assert caplog.text.count('did not answer') == 1   # said once
        assert 'answers again' in caplog.text
    finally:
        script.put(True)
        watchdog.stop()


def test_answers_feeds_a_real_watchdog(listener):
    """The real pieces together: answers() through a Loop, notify()."""
    path, sock = listener
    loop = Loop()
    watchdog = systemd.Watchdog(
        0.1, lambda timeout: systemd.answers(loop, timeout),
        send=lambda *s: systemd.notify(*s, environ={'NOTIFY_SOCKET': path}))
    watchdog.start()
    try:
        assert sock.recv(64) == b'WATCHDOG=1'
    finally:
        watchdog.stop()
        loop.close()


# -- reload -----------------------------------------------------------------------


@pytest.fixture
def logged_conf(tmp_path):
    conf = cfg.ConfigOpts()
    oslo_logging.register_options(conf)
    path = tmp_path / 'mi.conf'
    path.write_text('[DEFAULT]\ndebug = false\n')
    conf(['--config-file', str(path)], default_config_files=[])
    oslo_logging.setup(conf, 'masakari-introspect-test')
    yield conf, path
    logging.getLogger().setLevel(logging.WARNING)


def test_reload_applies_debug_and_says_so(logged_conf, caplog):
    conf, path = logged_conf
    assert logging.getLogger().level == logging.INFO
    path.write_text('[DEFAULT]\ndebug = true\n')
    caplog.set_level(logging.INFO)
    assert conf_reload.reload(conf) is True
    assert conf.debug is True
    assert logging.getLogger().level == logging.DEBUG
    [line] = [r.getMessage() for r in caplog.records
              if r.name == conf_reload.__name__]
    assert line.startswith('Configuration reloaded on SIGHUP: [DEFAULT] '
                           'debug')


def test_a_broken_file_keeps_the_running_configuration(logged_conf, caplog):
    conf, path = logged_conf
    path.write_text('[DEFAULT\n')
    assert conf_reload.reload(conf) is False
    assert conf.debug is False
    assert 'Configuration not reloaded on SIGHUP' in caplog.text


# -- the service under a fake systemd -------------------------------------------


def test_service_notifies_reloads_on_sighup_and_stops(tmp_path, listener):
    pytest.importorskip('libvirt')
    path, sock = listener
    conf = tmp_path / 'mi.conf'
    log = tmp_path / 'mi.log'
    conf.write_text(
        '[DEFAULT]\nstate_path = %s\nlog_file = %s\n'
        '[libvirt]\nconnection_uri = test:///default\n'
        '[masakari]\nauth_type = none\nendpoint_override = '
        'http://127.0.0.1:9/v1\n' % (tmp_path / 'state', log))
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC='1000000',
               WATCHDOG_PID='', PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, '-m', 'masakari_introspect.cmd.monitor',
         '--config-file', str(conf)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert sock.recv(4096) == b'STATUS=Connecting to libvirt'
        assert sock.recv(4096) == b'READY=1\nSTATUS=Monitoring guest agents'
        assert sock.recv(4096) == b'WATCHDOG=1'
        with conf.open('a') as handle:
            handle.write('[DEFAULT]\ndebug = true\n')
        proc.send_signal(signal.SIGHUP)

        def reloaded():
            assert proc.poll() is None, proc.stderr.read()
            return 'Configuration reloaded on SIGHUP' in log.read_text()

        wait_until(reloaded, timeout=10)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        while (message := sock.recv(4096)) == b'WATCHDOG=1':
            pass
        assert message == b'STOPPING=1\nSTATUS=Stopping'
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert 'Configuration reloaded on SIGHUP: [DEFAULT] debug ' in text
    assert not (tmp_path / 'state' / 'status.sock').exists()
