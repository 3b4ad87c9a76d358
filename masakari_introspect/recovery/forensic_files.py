"""A forensics record on disk: its folder ``<root>/<uuid>/<UTC time>[-N]/``,
made and pruned, and the files written in it."""

import datetime
import json
import pathlib
import re
import shutil

from oslo_log import log as logging

from masakari_introspect.durable import write_atomically

LOG = logging.getLogger(__name__)

VERDICT = 'verdict.json'
STATS = 'stats.json'
PROBES = 'probes.json'
DOMAIN_XML = 'domain.xml'
SCREENSHOT = 'screenshot'
SCREENSHOT_SUFFIXES = {
    'image/x-portable-pixmap': '.ppm',
    'image/png': '.png',
}
OTHER_SUFFIX = '.bin'
STAMP_FORMAT = '%Y%m%dT%H%M%SZ'
_FOLDER = re.compile(r'^(\d{8}T\d{6}Z)(?:-(\d+))?$')
_MAX_SAME_SECOND = 1000


def make(parent: pathlib.Path, when: datetime.datetime) -> pathlib.Path:
    """A new folder in ``parent``, named after ``when``, after any of the
    same second."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = utc(when).strftime(STAMP_FORMAT)
    taken = [key[1] for key, _path in listed(parent) if key[0] == stamp]
    first = max(taken) + 1 if taken else 0
    for index in range(first, first + _MAX_SAME_SECOND):
        folder = parent / (stamp if index == 0 else '%s-%d' % (stamp, index))
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError('%d folders for %s in one second' % (
        _MAX_SAME_SECOND, stamp))


def prune(current: pathlib.Path, keep: int) -> None:
    """Delete the oldest folders beside ``current`` beyond ``keep``;
    ``current`` is kept even if its time is older than the others'."""
    others = [path for _key, path in listed(current.parent)
              if path != current]
    for old in others[:max(0, len(others) - (keep - 1))]:
        shutil.rmtree(old)
        LOG.debug('Deleted old forensics %s', old)


def listed(parent: pathlib.Path
             ) -> list[tuple[tuple[str, int], pathlib.Path]]:
    """The forensics folders in ``parent``, oldest first."""
    found = []
    for entry in parent.iterdir():
        match = _FOLDER.match(entry.name)
        if match and entry.is_dir():
            found.append(((match.group(1), int(match.group(2) or 0)), entry))
    return sorted(found)


def utc(when: datetime.datetime) -> datetime.datetime:
    """``when`` in UTC; a naive time is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


class Failed:
    """A capture call that raised."""

    def __init__(self, error: BaseException) -> None:
        self.text = 'failed: %r' % (error,)


def write_capture(folder: pathlib.Path, kind: str, value: object) -> str:
    """Write one capture result; what became of it, in a few words."""
    if isinstance(value, Failed):
        return value.text
    if value is None:
        return 'unavailable'
    if kind == DOMAIN_XML:
        if not isinstance(value, str):
            return 'failed: not a string: %.60r' % (value,)
        write_atomically(folder / DOMAIN_XML, value.encode())
        return 'written: %s' % DOMAIN_XML
    if (not isinstance(value, tuple) or len(value) != 2
            or not isinstance(value[0], bytes)):
        return 'failed: not (bytes, MIME type): %.60r' % (value,)
    data, mime = value
    filename = SCREENSHOT + SCREENSHOT_SUFFIXES.get(mime, OTHER_SUFFIX)
    write_atomically(folder / filename, data)
    return 'written: %s (%s, %d bytes)' % (filename, mime, len(data))


def write_json(path: pathlib.Path, value: object) -> None:
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    write_atomically(path, text.encode() + b'\n')
