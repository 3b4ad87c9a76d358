"""Durable file writes: a crash leaves the old content or the new, never a
mix (the spool, the state file and the forensics folders use them)."""

import os
import pathlib
import tempfile


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
    """Make the entries of ``directory`` (a rename, an unlink) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
