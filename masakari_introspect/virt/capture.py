"""What libvirt can show of a failed instance: console screenshot, domain XML.

Implements :class:`masakari_introspect.recovery.forensics.Capture` on a connection of
its own, so that a call stuck on a QEMU monitor holds neither the monitor's
event connection nor its probe connection. The connection is opened on first
use and dropped after a connection error; the next call opens a new one.
Every failure is one WARNING and ``None``; nothing here raises.
"""

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

from oslo_log import log as logging

from masakari_introspect.virt import errors
from masakari_introspect.virt.connection import LazyConnection

LOG = logging.getLogger(__name__)

CHUNK = 256 * 1024
# A console screenshot is a few MiB at most (PPM of 1920x1200: 6.6 MiB).
MAX_SCREENSHOT = 64 * 1024 * 1024


class LibvirtCapture:
    """Screenshot and XML of a domain, looked up by UUID."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._connection = LazyConnection(uri)

    def screenshot(self, uuid: str) -> tuple[bytes, str] | None:
        """The first screen as (image, MIME type): PNG or PPM from QEMU."""
        conn = self._get()
        if conn is None:
            return None
        stream = None
        try:
            dom = conn.lookupByUUIDString(uuid)
            stream = conn.newStream(0)
            mime = dom.screenshot(stream, 0, 0)
            data = _read_to_end(stream)
            stream.finish()
            stream = None
        except libvirt.libvirtError as exc:
            self._failed(conn, 'screenshot', uuid, exc)
            return None
        except _TooLarge as exc:
            LOG.warning('No screenshot of instance %s: %s', uuid, exc)
            return None
        finally:
            if stream is not None:
                _abort_quietly(stream)
        return data, mime or 'application/octet-stream'

    def domain_xml(self, uuid: str) -> str | None:
        """The live domain XML (without secrets: flags 0)."""
        conn = self._get()
        if conn is None:
            return None
        try:
            xml: str = conn.lookupByUUIDString(uuid).XMLDesc(0)
        except libvirt.libvirtError as exc:
            self._failed(conn, 'domain XML', uuid, exc)
            return None
        return xml

    def close(self) -> None:
        self._connection.close()

    def _get(self) -> 'libvirt.virConnect | None':
        if libvirt is None:
            LOG.warning('No capture: the libvirt Python binding is not '
                        'installed')
            return None
        conn, error = self._connection.get()
        if error:
            LOG.warning('No capture: cannot connect to libvirt at %s: %s',
                        self._uri, error)
        return conn

    def _failed(self, conn: 'libvirt.virConnect', what: str, uuid: str,
                exc: 'libvirt.libvirtError') -> None:
        code, domain = exc.get_error_code(), exc.get_error_domain()
        LOG.warning('No %s of instance %s: %s (code %s, domain %s)', what,
                    uuid, exc.get_error_message(), code, domain)
        if errors.is_connection_error(code, domain):
            self._connection.drop(conn)


class _TooLarge(Exception):
    pass


def _read_to_end(stream: 'libvirt.virStream') -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.recv(CHUNK)
        if not chunk:
            return b''.join(chunks)
        size += len(chunk)
        if size > MAX_SCREENSHOT:
            raise _TooLarge('the image exceeds %d bytes' % MAX_SCREENSHOT)
        chunks.append(chunk)


def _abort_quietly(stream: 'libvirt.virStream') -> None:
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass

