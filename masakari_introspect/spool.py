"""A durable spool of notifications not yet accepted by Masakari.

One JSON file per instance, written atomically (temporary file, fsync,
rename, fsync of the directory) before the first attempt to send, and removed
only once Masakari answered 2xx or 409. A file that cannot be read is moved to
``corrupt/`` beside it, with an ERROR, and the others are still delivered.
"""

import json
import os
import pathlib
import tempfile
import threading

from oslo_log import log as logging

from masakari_introspect.model import Notification

LOG = logging.getLogger(__name__)

SUFFIX = '.json'
FORMAT_VERSION = 1


class SpoolFull(Exception):
    pass


def write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves old or new."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix='.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Pending notifications, at most one per instance, bounded in number."""

    def __init__(self, directory: pathlib.Path, max_entries: int) -> None:
        self._dir = pathlib.Path(directory)
        self._corrupt = self._dir / 'corrupt'
        self._max = max_entries
        self._lock = threading.Lock()
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)

    def add(self, notification: Notification) -> bool:
        """Store ``notification``; False if one is pending for the instance.

        Raises SpoolFull when the bound is reached and OSError when the disk
        refuses the write: the caller must then not consider it queued.
        """
        path = self._path(notification.instance_uuid)
        with self._lock:
            if path.exists():
                return False
            if self._count() >= self._max:
                raise SpoolFull('%d notifications pending' % self._max)
            record = {'version': FORMAT_VERSION,
                      'id': notification.id,
                      'instance_uuid': notification.instance_uuid,
                      'hostname': notification.hostname,
                      'generated_time': notification.generated_time}
            write_atomically(path, json.dumps(record).encode())
            os.chmod(path, 0o600)
            return True

    def remove(self, notification: Notification) -> None:
        path = self._path(notification.instance_uuid)
        with self._lock:
            current = self._read(path)
            if current is not None and current.id == notification.id:
                path.unlink(missing_ok=True)
                fsync_directory(self._dir)

    def pending(self) -> list[Notification]:
        """Everything waiting, oldest first; unreadable entries set aside."""
        with self._lock:
            found = []
            for path in sorted(self._dir.glob('*' + SUFFIX)):
                notification = self._read(path)
                if notification is None:
                    self._set_aside(path)
                else:
                    found.append(notification)
        return sorted(found, key=lambda n: n.generated_time)

    def __len__(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        return sum(1 for _ in self._dir.glob('*' + SUFFIX))

    def _path(self, instance_uuid: str) -> pathlib.Path:
        return self._dir / (instance_uuid + SUFFIX)

    @staticmethod
    def _read(path: pathlib.Path) -> Notification | None:
        try:
            record = json.loads(path.read_bytes())
            notification = Notification(
                instance_uuid=str(record['instance_uuid']),
                hostname=str(record['hostname']),
                generated_time=str(record['generated_time']),
                id=str(record['id']))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.error('Spool entry %s is unreadable: %s', path, exc)
            return None
        if path.name != notification.instance_uuid + SUFFIX:
            LOG.error('Spool entry %s names instance %s', path,
                      notification.instance_uuid)
            return None
        return notification

    def _set_aside(self, path: pathlib.Path) -> None:
        if not path.exists():
            return
        self._corrupt.mkdir(mode=0o700, exist_ok=True)
        target = self._corrupt / path.name
        try:
            os.replace(path, target)
        except OSError as exc:
            LOG.error('Cannot move %s aside: %s', path, exc)
            return
        LOG.error('Moved unreadable spool entry %s to %s; it will not be '
                  'sent', path, target)
