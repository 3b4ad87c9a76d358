"""The command recovery driver, running real (tiny) hooks."""

import logging
import sys

import pytest

from masakari_introspect.recovery.command import CommandRecovery
from masakari_introspect.core.notification import Delivery, Notification
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import wait_until

A = '00000000-0000-0000-0000-00000000000a'
LOGGER = 'masakari_introspect.recovery.command'


def note():
    return Notification(A, 'compute-1.example.org', '2026-11-21T17:00:00',
                        'id-a', instance_name='web-1', reason='unresponsive',
                        forensics='/var/lib/mi/forensics/1')


def hook(tmp_path, body):
    """A Python hook script (run without a shell)."""
    script = tmp_path / 'hook.py'
    script.write_text(body)
    return [sys.executable, str(script)]


def test_the_hook_sees_the_instance_in_its_environment(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    out = tmp_path / 'env.txt'
    argv = hook(tmp_path, f'''
import os, sys
names = ["MI_INSTANCE_UUID", "MI_INSTANCE_NAME", "MI_REASON", "MI_HOST",
         "MI_FORENSICS", "MI_GENERATED_TIME"]
open({str(out)!r}, "w").write("\\n".join(os.environ[n] for n in names))
print("recovered", sys.argv[1:])
''') + ['--flag', 'a b']
    result = CommandRecovery(argv, 10).send(note())
    assert result.delivery is Delivery.DELIVERED
    assert out.read_text().splitlines() == [
        A, 'web-1', 'unresponsive', 'compute-1.example.org',
        '/var/lib/mi/forensics/1', '2026-11-21T17:00:00']
    logged = '\n'.join(r.getMessage() for r in caplog.records)
    assert "recovered ['--flag', 'a b']" in logged      # no shell splitting
    assert 'exit status 0' in logged


def test_a_failing_hook_is_transient_and_its_output_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    argv = hook(tmp_path, 'import sys\nprint("pcs: cluster not ready")\n'
                'sys.exit(3)\n')
    result = CommandRecovery(argv, 10).send(note())
    assert result.delivery is Delivery.TRANSIENT
    assert 'status 3' in result.message
    assert any('pcs: cluster not ready' in r.getMessage()
               for r in caplog.records)


def test_a_hanging_hook_is_killed_at_its_timeout(tmp_path):
    pidfile = tmp_path / 'child.pid'
    argv = hook(tmp_path, f'''
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(pidfile)!r}, "w").write(str(child.pid))
print("hanging", flush=True)
time.sleep(60)
''')
    result = CommandRecovery(argv, 1).send(note())
    assert result.delivery is Delivery.TRANSIENT
    assert 'timed out after 1 s' in result.message
    # the hook's own children went with it (its process group)
    child = int(pidfile.read_text())
    wait_until(lambda: dead(child), timeout=10)


def dead(pid):
    """Gone, or a zombie nobody reaped yet."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().split(') ')[1].startswith('Z')
    except FileNotFoundError:
        return True


def test_a_missing_program_needs_the_operator(tmp_path):
    result = CommandRecovery([str(tmp_path / 'nope')], 5).send(note())
    assert result.delivery is Delivery.REJECTED
    assert 'nope' in result.message


@pytest.mark.parametrize('mode', ['missing', 'not executable'])
def test_a_hook_that_cannot_run_is_one_clear_error(tmp_path, caplog, mode):
    caplog.set_level(logging.INFO, logger='masakari_introspect')
    program = tmp_path / 'hook.sh'
    if mode == 'not executable':
        program.write_text('#!/bin/sh\nexit 0\n')
        program.chmod(0o644)
    spool = Spool(tmp_path / 'spool', 10)
    s = Sender(spool, CommandRecovery([str(program)], 5),
               retry_interval=1, retry_interval_max=60)
    s.submit(note())
    for _ in range(3):
        assert s.deliver_due() is not None    # kept, retried
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert str(program) in errors[0] and '[recovery] command' in errors[0]
    assert 'Masakari' not in errors[0] and '[DEFAULT] host' not in errors[0]


def test_empty_command_is_refused():
    with pytest.raises(ValueError):
        CommandRecovery([], 5)


def test_a_failing_hook_is_retried_until_it_succeeds_once(tmp_path):
    """Through the sender: fail twice, succeed, then never run again."""
    runs = tmp_path / 'runs'
    argv = hook(tmp_path, f'''
import sys
with open({str(runs)!r}, "a") as f:
    f.write("x")
sys.exit(0 if len(open({str(runs)!r}).read()) >= 3 else 1)
''')
    now = [0.0]
    sender = Sender(Spool(tmp_path / 'spool', 10),
                    CommandRecovery(argv, 10), retry_interval=2.0,
                    retry_interval_max=8.0, clock=lambda: now[0])
    sender.submit(note())
    waits = []
    while (wait := sender.deliver_due()) is not None:
        waits.append(wait)
        now[0] += wait
    assert waits == [2.0, 4.0]
    assert runs.read_text() == 'xxx'
    assert sender.deliver_due() is None
    assert runs.read_text() == 'xxx'
    assert len(Spool(tmp_path / 'spool', 10)) == 0


def test_a_hook_that_leaves_a_child_holding_its_output_succeeds_once(
        tmp_path):
    """Judged by its exit status: a background child that keeps stdout
    open for longer than the timeout neither delays nor fails it."""
    runs, pidfile = tmp_path / 'runs', tmp_path / 'child.pid'
    argv = hook(tmp_path, f'''
import subprocess, sys
with open({str(runs)!r}, "a") as f:
    f.write("x")
child = subprocess.Popen([sys.executable, "-c",
                          "import time; print('child', flush=True); "
                          "time.sleep(30)"])
open({str(pidfile)!r}, "w").write(str(child.pid))
print("restart requested", flush=True)
''')
    sender = Sender(Spool(tmp_path / 'spool', 10),
                    CommandRecovery(argv, 3), retry_interval=2.0,
                    retry_interval_max=8.0, clock=lambda: 0.0)
    try:
        sender.submit(note())
        assert sender.deliver_due() is None      # done, not "timed out"
        assert runs.read_text() == 'x'
        assert len(Spool(tmp_path / 'spool', 10)) == 0
    finally:
        import os
        import signal
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_the_output_of_a_hook_is_logged_bounded(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    argv = hook(tmp_path, 'print("a" * 100000 + "END")\n')
    result = CommandRecovery(argv, 10).send(note())
    assert result.delivery is Delivery.DELIVERED
    logged = '\n'.join(r.getMessage() for r in caplog.records)
    assert 'END' in logged and len(logged) < 20000
