"""The ``command`` recovery driver: runs an operator's hook, no shell.

The hook gets the failed instance in its environment (``MI_INSTANCE_UUID``,
``MI_INSTANCE_NAME``, ``MI_REASON``, ``MI_HOST``, ``MI_FORENSICS``,
``MI_GENERATED_TIME``), runs in its own process group with stdin closed, and
is killed with its whole group at ``timeout``. It is judged by its exit
status alone: 0 is success; another status or the timeout is a failure
retried with backoff; a hook that cannot be started at all (missing, not
executable) needs the operator and is retried at the slow pace. Its output
goes to a temporary file, read once the hook exited, so that a child it left
running in the background (still holding the output) neither delays the
verdict nor turns a success into a timeout. Its output is logged.

Exactly once: a hook interrupted by a crash of the monitor cannot be asked
whether it finished, so it is run again after the restart (at least once);
a hook that completed is recorded by the removal of the spool entry.
"""

import os
import signal
import subprocess
import tempfile
from typing import IO

from oslo_log import log as logging

from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification

LOG = logging.getLogger(__name__)

# Output kept for the log; the start and the end of longer output.
MAX_OUTPUT = 8192
KILL_WAIT = 5.0


def hook_environment(notification: Notification) -> dict[str, str]:
    return {
        'MI_INSTANCE_UUID': notification.instance_uuid,
        'MI_INSTANCE_NAME': notification.instance_name,
        'MI_REASON': notification.reason,
        'MI_HOST': notification.hostname,
        'MI_FORENSICS': notification.forensics,
        'MI_GENERATED_TIME': notification.generated_time,
    }


def _read(output: IO[bytes]) -> bytes:
    """What the hook wrote so far: the start and the end of long output."""
    size = output.seek(0, os.SEEK_END)
    if size <= 2 * MAX_OUTPUT:
        output.seek(0)
        return output.read()
    output.seek(0)
    head = output.read(MAX_OUTPUT)
    output.seek(size - MAX_OUTPUT)
    return head + output.read(MAX_OUTPUT)


def _shorten(output: bytes) -> str:
    text = output.decode('utf-8', errors='replace').strip()
    if len(text) > MAX_OUTPUT:
        half = MAX_OUTPUT // 2
        text = '%s\n[... %d characters ...]\n%s' % (
            text[:half], len(text) - MAX_OUTPUT, text[-half:])
    return text


class CommandRecovery:
    """Runs ``argv`` once per attempt; never raises."""

    name = 'Recovery command'

    def __init__(self, argv: list[str], timeout: float) -> None:
        if not argv:
            raise ValueError('[recovery] command is empty')
        self._argv = list(argv)
        self._timeout = timeout

    def begin(self, notification: Notification) -> str:
        return ''

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        return None     # cannot tell: run again (documented at-least-once)

    def send(self, notification: Notification) -> DeliveryResult:
        uuid = notification.instance_uuid
        env = dict(os.environ)
        env.update(hook_environment(notification))
        with tempfile.TemporaryFile() as output:
            try:
                proc = subprocess.Popen(
                    self._argv, env=env, stdin=subprocess.DEVNULL,
                    stdout=output, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True)
            except OSError as exc:
                return DeliveryResult(Delivery.REJECTED, None, 'cannot run '
                                      '%s: %s' % (self._argv[0], exc))
            try:
                status = proc.wait(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                self._log_output(uuid, 'killed after %s s' % self._timeout,
                                 _read(output))
                return DeliveryResult(
                    Delivery.TRANSIENT, None, 'timed out after %s s; killed'
                    % self._timeout)
            self._log_output(uuid, 'exit status %d' % status, _read(output))
        if status == 0:
            return DeliveryResult(Delivery.DELIVERED, None,
                                  '%s exited with status 0' % self._argv[0])
        return DeliveryResult(Delivery.TRANSIENT, None,
                              '%s exited with status %d' % (self._argv[0],
                                                            status))

    @staticmethod
    def _kill(proc: 'subprocess.Popen[bytes]') -> None:
        """SIGKILL to the hook's whole process group."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:   # pragma: no cover - D state
            LOG.error('Recovery command %s (pid %d) survived SIGKILL',
                      proc.args, proc.pid)

    def _log_output(self, uuid: str, how: str, output: bytes) -> None:
        text = _shorten(output or b'')
        LOG.info('Recovery command %s for instance %s: %s%s', self._argv[0],
                 uuid, how, '; output:\n%s' % text if text else
                 ', no output')
