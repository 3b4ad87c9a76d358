"""The running service as the operator's tools see it.

:class:`Source` is what the status server and the metrics read;
:class:`View` provides it from the monitor, the libvirt host and the spool.
:class:`ServerThread` runs a socketserver-style server in a daemon thread,
for both the status socket and the metrics listener.
"""

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from oslo_log import log as logging

from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.recovery.outbox import PendingNotification

LOG = logging.getLogger(__name__)

# How long a status request or a scrape waits for the monitor's thread.
QUERY_TIMEOUT = 5.0
POLL_INTERVAL = 0.1   # how soon a server stops once asked to


class Source(Protocol):
    """The present state of the service, read at request or scrape time."""

    host: str
    dry_run: bool

    def instances(self) -> Sequence[InstanceStatus]:
        """``Fleet.snapshot()``; raises TimeoutError if it takes long."""
        ...

    def libvirt_connected(self) -> bool:
        ...

    def pending(self) -> int:
        ...

    def pending_notifications(self) -> Sequence[PendingNotification]:
        """What the sender is still working on, oldest first."""
        ...

    def set_maintenance(self, instance: str, on: bool) -> str | None:
        """The UUID, or None if no such instance; may raise TimeoutError."""
        ...


class Queryable(Protocol):
    def query(self, func: Any, *args: Any
              ) -> 'concurrent.futures.Future[Any]':
        ...

    def snapshot(self) -> Sequence[InstanceStatus]:
        ...

    def set_maintenance(self, instance: str, on: bool
                        ) -> 'concurrent.futures.Future[Any]':
        ...


class Connected(Protocol):
    @property
    def connected(self) -> bool:
        ...


class Counted(Protocol):
    def __len__(self) -> int:
        ...


class View:
    """A :class:`Source` backed by the running monitor."""

    def __init__(self, monitor: Queryable, host: Connected, spool: Counted,
                 *, hostname: str, dry_run: bool,
                 timeout: float = QUERY_TIMEOUT,
                 pending_view: Callable[[], Sequence[PendingNotification]]
                 = tuple) -> None:
        self._monitor = monitor
        self._pending_view = pending_view
        self._libvirt = host
        self._spool = spool
        self._timeout = timeout
        self.host = hostname
        self.dry_run = dry_run

    def instances(self) -> Sequence[InstanceStatus]:
        result: Sequence[InstanceStatus] = self._wait(
            self._monitor.query(self._monitor.snapshot))
        return result

    def libvirt_connected(self) -> bool:
        return self._libvirt.connected

    def pending(self) -> int:
        return len(self._spool)

    def pending_notifications(self) -> Sequence[PendingNotification]:
        return self._pending_view()

    def set_maintenance(self, instance: str, on: bool) -> str | None:
        uuid: str | None = self._wait(
            self._monitor.set_maintenance(instance, on))
        return uuid

    def _wait(self, future: 'concurrent.futures.Future[Any]') -> Any:
        try:
            return future.result(self._timeout)
        except TimeoutError:
            future.cancel()   # not run later, if it is not running yet
            raise


class Servable(Protocol):
    def serve_forever(self, poll_interval: float = ...) -> None:
        ...

    def shutdown(self) -> None:
        ...

    def server_close(self) -> None:
        ...


class ServerThread:
    """Serves ``server`` in a daemon thread from start() until close()."""

    def __init__(self, server: Servable, name: str) -> None:
        self._server = server
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_INTERVAL,),
            name=self._name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
