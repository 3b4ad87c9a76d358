"""A durable spool of notifications not yet acted on.

One JSON file per instance, written atomically (temporary file, fsync,
rename, fsync of the directory) before the first attempt, and removed only
once the recovery driver reported success (or Masakari already had it), or
when the notification is withdrawn because the guest answers again.

Before each attempt the entry is marked *announced*, with the token the
driver announced (e.g. the QEMU process id for a libvirt reset), so that
after a crash the next process can ask whether that attempt already took
effect. On disk the mark is the key ``started`` (the format of earlier
releases).

Only a file that cannot be parsed is moved to ``corrupt/`` beside it, with an
ERROR; an ``OSError`` while reading is taken as transient: the entry is kept,
skipped for this round and read again on the next.
"""

import dataclasses
import json
import os
import pathlib
import threading
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

from masakari_introspect.core.notification import Notification
from masakari_introspect.durable import fsync_directory
from masakari_introspect.durable import write_atomically

LOG = logging.getLogger(__name__)

SUFFIX = '.json'
FORMAT_VERSION = 1
# Fields of a Notification stored as they are; older files may lack the
# optional ones, which then take the dataclass defaults.
_REQUIRED = ('instance_uuid', 'hostname', 'generated_time', 'id')
_OPTIONAL = ('instance_name', 'reason', 'forensics')


class SpoolFull(Exception):
    pass


class Unparsable(ValueError):
    """A spool file whose content is not an entry."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """A pending notification and whether an attempt on it was announced."""

    notification: Notification
    announced: bool = False
    token: str = ''


def encode(entry: Entry) -> bytes:
    record: dict[str, Any] = {'version': FORMAT_VERSION}
    for name in _REQUIRED + _OPTIONAL:
        record[name] = getattr(entry.notification, name)
    if entry.announced:
        record['started'] = True
        record['token'] = entry.token
    return json.dumps(record).encode()


def decode(data: bytes) -> Entry:
    """The entry in ``data``; Unparsable if it is not one."""
    try:
        record = json.loads(data)
        if not isinstance(record, dict):
            raise TypeError('not an object')
        fields = {name: str(record[name]) for name in _REQUIRED}
        fields.update({name: str(record[name]) for name in _OPTIONAL
                       if name in record})
        return Entry(Notification(**fields),
                     announced=bool(record.get('started', False)),
                     token=str(record.get('token', '')))
    except (ValueError, KeyError, TypeError) as exc:
        raise Unparsable('%s: %s' % (type(exc).__name__, exc)) from exc


class Spool:
    """Pending notifications, at most one per instance, bounded in number."""

    def __init__(self, directory: pathlib.Path, max_entries: int, *,
                 read: Callable[[pathlib.Path], bytes]
                 = pathlib.Path.read_bytes) -> None:
        self._read = read
        self._dir = pathlib.Path(directory)
        self._corrupt = self._dir / 'corrupt'
        self._max = max_entries
        self._lock = threading.Lock()
        self._unreadable: set[str] = set()   # logged once until readable
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)

    def add(self, notification: Notification) -> bool:
        """Store ``notification``; False if one is pending for the instance.

        Raises SpoolFull when the bound is reached and OSError when the disk
        refuses the write: the caller must then not consider it queued.
        """
        path = self._path(notification.instance_uuid)
        with self._lock:
            try:
                if path.exists() and self._load(path) is not None:
                    return False
            except Unparsable as exc:   # not a pending notification
                LOG.error('Spool entry %s is unreadable: %s', path, exc)
                self._set_aside(path)
            except OSError:
                return False   # unreadable now: kept (see entries())
            if self._count() >= self._max:
                raise SpoolFull('%d notifications pending' % self._max)
            self._write(path, Entry(notification))
            return True

    def mark_announced(self, notification: Notification, token: str) -> bool:
        """Record durably that an attempt on ``notification`` begins.

        False (and nothing written) if the entry was withdrawn or replaced
        meanwhile. Raises OSError when it could not be recorded.
        """
        path = self._path(notification.instance_uuid)
        with self._lock:
            current = self._load(path)
            if current is None or current.notification.id != notification.id:
                return False
            self._write(path, Entry(current.notification, True, token))
            return True

    def replace(self, notification: Notification,
                renewed: Notification) -> bool:
        """Store ``renewed`` (e.g. a later generated time) in place of
        ``notification``, not announced; False if that entry is gone.
        Raises OSError when it could not be written."""
        path = self._path(notification.instance_uuid)
        with self._lock:
            current = self._load(path)
            if current is None or current.notification.id != notification.id:
                return False
            self._write(path, Entry(renewed))
            return True

    def remove(self, notification: Notification) -> None:
        """Drop the entry of ``notification`` (not a newer one)."""
        path = self._path(notification.instance_uuid)
        with self._lock:
            try:
                current = self._load(path)
            except Unparsable:
                return
            if current is not None and \
                    current.notification.id == notification.id:
                path.unlink(missing_ok=True)
                fsync_directory(self._dir)

    def withdraw(self, instance_uuid: str) -> Notification | None:
        """Drop whatever is pending for the instance; what was dropped."""
        path = self._path(instance_uuid)
        with self._lock:
            try:
                current = self._load(path)
            except Unparsable:
                current = None
            if current is None:
                return None
            path.unlink(missing_ok=True)
            fsync_directory(self._dir)
            return current.notification

    def entries(self) -> list[Entry]:
        """Everything waiting, oldest first.

        Unparsable files are set aside; files that cannot be read right now
        are skipped this time and kept.
        """
        found = []
        with self._lock:
            for path in sorted(self._dir.glob('*' + SUFFIX)):
                try:
                    entry = self._load(path)
                except Unparsable as exc:
                    LOG.error('Spool entry %s is unreadable: %s', path, exc)
                    self._set_aside(path)
                    continue
                except OSError as exc:
                    if path.name not in self._unreadable:
                        self._unreadable.add(path.name)
                        LOG.warning('Cannot read spool entry %s now (%s); '
                                    'kept, and read again later', path, exc)
                    continue
                self._unreadable.discard(path.name)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: e.notification.generated_time)

    def has(self, instance_uuid: str) -> bool:
        """Whether a notification is pending for the instance."""
        return self._path(instance_uuid).exists()

    def __len__(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        return sum(1 for _ in self._dir.glob('*' + SUFFIX))

    def _path(self, instance_uuid: str) -> pathlib.Path:
        return self._dir / (instance_uuid + SUFFIX)

    def _write(self, path: pathlib.Path, entry: Entry) -> None:
        write_atomically(path, encode(entry))
        os.chmod(path, 0o600)

    def _load(self, path: pathlib.Path) -> Entry | None:
        """The entry at ``path``; None if there is none.

        Raises Unparsable for a file that is not an entry, OSError when it
        could not be read.
        """
        try:
            data = self._read(path)
        except FileNotFoundError:
            return None
        entry = decode(data)
        if path.name != entry.notification.instance_uuid + SUFFIX:
            raise Unparsable('the entry names instance %s'
                             % entry.notification.instance_uuid)
        return entry

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
