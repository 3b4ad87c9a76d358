"""A libvirt connection of one's own: opened on first use, dropped after a
connection error, opened again by the next use. The probe connections and
the forensics capture each keep one."""

import threading
from collections.abc import Callable

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None


class LazyConnection:
    def __init__(self, uri: str,
                 may_open: Callable[[], bool] = lambda: True) -> None:
        self._uri = uri
        self._may_open = may_open
        self._conn: 'libvirt.virConnect | None' = None
        self._lock = threading.Lock()

    def get(self) -> 'tuple[libvirt.virConnect | None, str]':
        """The connection (opened now if need be and allowed), or None and
        libvirt's reason when it could not be opened."""
        with self._lock:
            if self._conn is None and self._may_open():
                try:
                    self._conn = libvirt.open(self._uri)
                except libvirt.libvirtError as exc:
                    return None, exc.get_error_message()
            return self._conn, ''

    def drop(self, conn: 'libvirt.virConnect') -> bool:
        """Close ``conn`` if it is still the current one; True if it was."""
        with self._lock:
            if conn is not self._conn:
                return False
            self._conn = None
        close_quietly(conn)
        return True

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        close_quietly(conn)


def close_quietly(conn: 'libvirt.virConnect | None') -> None:
    if conn is not None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass
