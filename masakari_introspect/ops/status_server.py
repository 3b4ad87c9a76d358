"""The status socket server, in the service.

The protocol is JSON lines: one request object per line, one answer object
per line, on a connection that may carry several. Requests:

* ``{"command": "status"}`` ->
  ``{"ok": true, "service": {...}, "instances": [...]}``
* ``{"command": "maintenance", "instance": UUID_OR_NAME, "on": true}`` ->
  ``{"ok": true, "uuid": UUID, "maintenance": true}``

A refused request gets ``{"ok": false, "error": "..."}``. Who may connect
is the socket's file mode: 0600 (the service's user and root), or 0660 with
``group`` for read-only users. Who may switch maintenance is decided per
connection from the peer's credentials (SO_PEERCRED): root or the service's
own user.
"""

import errno
import json
import os
import pathlib
import socket
import socketserver
import stat
import struct
import tempfile
from typing import Any

from oslo_log import log as logging

from masakari_introspect.conf.errors import ConfigError
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import encode
from masakari_introspect.ops.view import ServerThread
from masakari_introspect.ops.view import Source

LOG = logging.getLogger(__name__)

MAX_LINE = 64 * 1024          # the longest request
IDLE_TIMEOUT = 30.0           # a client that sends nothing is dropped
MAX_PATH = 107                # sun_path holds 108 bytes with the final NUL


class _Handler(socketserver.StreamRequestHandler):
    timeout = IDLE_TIMEOUT
    server: '_UnixServer'

    def handle(self) -> None:
        peer_uid = _peer_uid(self.request)
        while True:
            try:
                line = self.rfile.readline(MAX_LINE + 1)
            except OSError:   # idle timeout or reset
                return
            if not line:
                return
            if len(line) > MAX_LINE:
                self._send({'ok': False, 'error': 'request too long'})
                return
            if line.strip():
                self._send(self.server.answer(line, peer_uid))

    def _send(self, answer: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(answer).encode() + b'\n')
        self.wfile.flush()


def _peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end, from the kernel."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                              struct.calcsize('3i'))
    except OSError:
        return None
    return int(struct.unpack('3i', raw)[1])


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: pathlib.Path, owner: 'StatusServer',
                 group: int | None) -> None:
        self.owner = owner
        self.path = path
        self.group = group
        super().__init__(str(path), _Handler)

    def server_bind(self) -> None:
        path = self.path
        _refuse_live_socket(path)
        # Bound in a private directory, made 0600, then renamed into place:
        # no moment at which another user could connect.
        private = pathlib.Path(tempfile.mkdtemp(prefix='.', dir=path.parent))
        try:
            staged = private / 's'
            self.socket.bind(str(staged))
            os.chmod(staged, 0o600)
            if self.group is not None:
                os.chown(staged, -1, self.group)
                os.chmod(staged, 0o660)
            os.rename(staged, path)
        finally:
            try:
                staged.unlink(missing_ok=True)
            finally:
                private.rmdir()
        self.server_address = str(path)

    def answer(self, line: bytes, peer_uid: int | None) -> dict[str, Any]:
        return self.owner.answer(line, peer_uid)


def _refuse_live_socket(path: pathlib.Path) -> None:
    """Replace a stale socket, never a live service or another file."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, '%s exists and is not a socket' % path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(str(path))
    except OSError:
        LOG.debug('Replacing the stale status socket %s', path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, 'another service answers on the status '
                  'socket %s' % path)


class StatusServer:
    """Answers status and maintenance requests from a Source.

    The socket is created at construction (so that a bad path stops the
    service at start); requests are served from :meth:`start` on.
    """

    def __init__(self, path: pathlib.Path | str, source: Source, *,
                 group: int | None = None) -> None:
        self.path = pathlib.Path(path)
        self._source = source
        if len(os.fsencode(self.path)) > MAX_PATH:
            raise OSError(errno.ENAMETOOLONG, 'the status socket path %s is '
                          'longer than %d bytes' % (self.path, MAX_PATH))
        if group is not None and not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True)
            os.chown(self.path.parent, -1, group)
            os.chmod(self.path.parent, 0o710)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if group is not None:
            _check_reachable(self.path.parent, group)
        try:
            self._server = _UnixServer(self.path, self, group)
        except OSError as exc:
            raise OSError(exc.errno, 'cannot create the status socket %s: %s'
                          % (self.path, exc.strerror or exc)) from exc
        self._inode = self.path.stat().st_ino
        self._serving = ServerThread(self._server, 'status')

    def start(self) -> None:
        self._serving.start()
        LOG.info('Answering status requests on %s', self.path)

    def close(self) -> None:
        self._serving.close()
        try:
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def answer(self, line: bytes,
               peer_uid: int | None = None) -> dict[str, Any]:
        """The answer to one request line; ``peer_uid`` None: trusted."""
        try:
            request = json.loads(line)
        except ValueError:
            return _refusal('not a JSON object')
        if not isinstance(request, dict):
            return _refusal('not a JSON object')
        command = request.get('command')
        try:
            if command == 'status':
                return self._status()
            if command == 'maintenance':
                if not _may_control(peer_uid):
                    return _refusal(
                        'maintenance is reserved to root and the service\'s '
                        'user (uid %d); uid %s may only read the status'
                        % (os.geteuid(), peer_uid))
                return self._maintenance(request)
        except TimeoutError:
            return _refusal('the monitor did not answer in time')
        except Exception as exc:
            LOG.exception('Error answering a status request')
            return _refusal('internal error: %s' % exc)
        return _refusal('unknown command %r' % (command,))

    def _status(self) -> dict[str, Any]:
        source = self._source
        service = ServiceStatus(
            host=source.host, pid=os.getpid(), dry_run=source.dry_run,
            libvirt_connected=source.libvirt_connected(),
            notifications_pending=source.pending(),
            notifications=tuple(source.pending_notifications()))
        return {'ok': True, **encode(Snapshot(service,
                                              tuple(source.instances())))}

    def _maintenance(self, request: dict[str, Any]) -> dict[str, Any]:
        instance, on = request.get('instance'), request.get('on')
        if not isinstance(instance, str) or not instance \
                or not isinstance(on, bool):
            return _refusal('maintenance needs "instance" (a UUID or name) '
                            'and "on" (true or false)')
        uuid = self._source.set_maintenance(instance, on)
        if uuid is None:
            return _refusal('no monitored instance with UUID or name %r'
                            % instance)
        return {'ok': True, 'uuid': uuid, 'maintenance': on}


def _may_control(peer_uid: int | None) -> bool:
    return peer_uid is None or peer_uid in (0, os.geteuid())


def _check_reachable(directory: pathlib.Path, group: int) -> None:
    """Members of ``group`` must be able to search every directory above
    the socket; raises ConfigError naming the first that stops them."""
    for path in [directory, *directory.parents]:
        info = path.stat()
        if info.st_mode & stat.S_IXOTH or (
                info.st_gid == group and info.st_mode & stat.S_IXGRP):
            continue
        raise ConfigError(
            '[status] socket_group = %d: the group cannot reach %s, %s is '
            'mode %04o (owner %d, group %d); put [status] socket_path in a '
            'directory the group can search, e.g. '
            '/run/masakari-introspect/status.sock' % (
                group, directory, path, stat.S_IMODE(info.st_mode),
                info.st_uid, info.st_gid))


def _refusal(error: str) -> dict[str, Any]:
    return {'ok': False, 'error': error}
