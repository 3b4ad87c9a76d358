"""The status socket client, used by the status and check commands.

The protocol is described in :mod:`masakari_introspect.ops.status_server`.
"""

import argparse
import enum
import json
import pathlib
import socket
from typing import Any

from oslo_config import cfg

from masakari_introspect.conf import default
from masakari_introspect.conf import status as status_conf
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import decode
from masakari_introspect.version import version_string

PROJECT = 'masakari-introspect'
MAX_ANSWER = 64 * 1024 * 1024


class StatusError(Exception):
    """The service answered, and refused the request."""


class Unavailable(enum.Enum):
    """Why the service could not be asked."""

    NOT_RUNNING = 'not_running'   # no socket, or nobody listening
    PERMISSION = 'permission'     # this user may not connect
    TIMEOUT = 'timeout'           # no connection or no answer in time
    PROTOCOL = 'protocol'         # an answer that is not a status answer


class StatusUnavailable(Exception):
    """No answer from the service; ``why`` says why."""

    def __init__(self, why: Unavailable, message: str) -> None:
        super().__init__(message)
        self.why = why


class StatusClient:
    """Asks the running service over its status socket."""

    def __init__(self, path: pathlib.Path | str, timeout: float = 10.0
                 ) -> None:
        self.path = pathlib.Path(path)
        self._timeout = timeout

    def status(self) -> Snapshot:
        answer = self.request({'command': 'status'})
        try:
            return decode(answer)
        except (KeyError, TypeError, ValueError) as exc:
            raise StatusUnavailable(
                Unavailable.PROTOCOL, 'unexpected answer on %s: %s %s'
                % (self.path, type(exc).__name__, exc)) from exc

    def maintenance(self, instance: str, on: bool) -> dict[str, Any]:
        return self.request({'command': 'maintenance', 'instance': instance,
                             'on': on})

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer; raises StatusUnavailable or StatusError."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            try:
                sock.connect(str(self.path))
            except OSError as exc:
                raise self._unavailable(exc, connecting=True) from exc
            try:
                sock.sendall(json.dumps(request).encode() + b'\n')
                sock.shutdown(socket.SHUT_WR)
                raw = _read_line(sock)
            except OSError as exc:
                raise self._unavailable(exc, connecting=False) from exc
        finally:
            sock.close()
        try:
            answer = json.loads(raw)
            if not isinstance(answer, dict) or 'ok' not in answer:
                raise ValueError('not a status answer')
        except ValueError as exc:
            raise StatusUnavailable(
                Unavailable.PROTOCOL,
                'unexpected answer on %s: %r' % (self.path, raw[:80])
            ) from exc
        if not answer['ok']:
            raise StatusError(str(answer.get('error', 'refused')))
        return answer

    def _unavailable(self, exc: OSError, connecting: bool
                     ) -> StatusUnavailable:
        """Why the service could not be asked, in the operator's words."""
        why = exc.strerror or exc
        if isinstance(exc, TimeoutError):
            return StatusUnavailable(
                Unavailable.TIMEOUT, 'the service did not %s on %s '
                'within %g s' % ('accept a connection' if connecting
                                 else 'answer', self.path, self._timeout))
        if not connecting:
            return StatusUnavailable(
                Unavailable.PROTOCOL,
                'lost the connection to %s: %s' % (self.path, why))
        if isinstance(exc, PermissionError):
            return StatusUnavailable(
                Unavailable.PERMISSION,
                'permission denied on %s: run as the user of the service '
                '(e.g. with sudo), or as a member of its [status] '
                'socket_group' % self.path)
        if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
            return StatusUnavailable(
                Unavailable.NOT_RUNNING, 'masakari-introspect is not '
                'running (no service on %s: %s)' % (self.path, why))
        return StatusUnavailable(Unavailable.NOT_RUNNING,
                                 'cannot connect to %s: %s' % (self.path, why))


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b'\n' in chunk or size > MAX_ANSWER:
            break
    return b''.join(chunks).split(b'\n', 1)[0]


class SocketNotConfigured(Exception):
    pass


def add_connection_arguments(parser: argparse.ArgumentParser,
                             suppress: bool = False) -> None:
    """--config-file, --config-dir, --socket, --timeout (and --version)."""
    if not suppress:
        parser.add_argument('--version', action='version',
                            version='%(prog)s ' + version_string())
    default_list: Any = argparse.SUPPRESS if suppress else []
    default_none: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        '--config-file', action='append', default=default_list,
        metavar='PATH', help='the service\'s configuration file, to find '
        'its [status] socket_path (default: the usual oslo.config search)')
    parser.add_argument(
        '--config-dir', action='append', default=default_list,
        metavar='DIR', help='a directory of *.conf files, as for the service')
    parser.add_argument(
        '--socket', default=default_none, metavar='PATH',
        help='the status socket; the configuration is then not read')
    parser.add_argument(
        '--timeout', type=float,
        default=argparse.SUPPRESS if suppress else 10.0, metavar='SECONDS',
        help='how long to wait for the service (default: 10)')


def socket_path(args: argparse.Namespace,
                prog: str = PROJECT) -> str:
    """The status socket: --socket, or [status] socket_path of the config.

    Raises cfg.Error if the configuration cannot be read, and
    SocketNotConfigured if the socket is disabled in it.
    """
    if args.socket:
        return str(args.socket)
    conf = cfg.ConfigOpts()
    default.register_opts(conf)
    status_conf.register_opts(conf)
    argv: list[str] = []
    for path in args.config_file:
        argv += ['--config-file', path]
    for path in args.config_dir:
        argv += ['--config-dir', path]
    conf(argv, project=PROJECT, prog=prog, use_env=False)
    path = conf.status.socket_path
    if not path:
        raise SocketNotConfigured(
            '[status] socket_path is empty in the configuration: the '
            'service has no status socket')
    return str(path)
