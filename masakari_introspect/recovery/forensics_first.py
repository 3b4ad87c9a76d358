"""Forensics first: a local recovery waits for the capture of its guest.

The ``libvirt`` and ``command`` drivers change the guest at once (a reset
clears the screen a screenshot should show), so each of their attempts
waits until the forensics record of its notification is written, or until
the recorder's budget has passed since the folder was reserved, whichever
comes first. The Masakari driver does not wait: Masakari's own stop of the
instance comes much later anyway.

:class:`Captures` is told by the recorder when a folder is reserved and
when its record is written; :class:`ForensicsFirst` wraps a driver and
waits in :meth:`send`, on the sender's thread, never on the monitor's.
"""

import threading
import time
from collections.abc import Callable

from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.driver import Driver


class Captures:
    """Forensics records under way, by folder; thread-safe."""

    def __init__(self, budget: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._budget = budget
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, threading.Event]] = {}

    def begun(self, folder: str) -> None:
        """A folder was reserved: its record is due within the budget."""
        now = self._clock()
        with self._lock:
            self._pending = {f: p for f, p in self._pending.items()
                             if p[0] > now and not p[1].is_set()}
            self._pending[folder] = (now + self._budget, threading.Event())

    def ended(self, folder: str) -> None:
        """The record of ``folder`` is written (or given up)."""
        with self._lock:
            pending = self._pending.pop(folder, None)
        if pending is not None:
            pending[1].set()

    def wait(self, folder: str) -> None:
        """Until ``folder``'s record ended or its budget is spent."""
        with self._lock:
            pending = self._pending.get(folder)
        if pending is None:
            return     # written already, or before a restart
        deadline, ended = pending
        remaining = deadline - self._clock()
        if remaining > 0:
            ended.wait(remaining)


class ForensicsFirst:
    """A driver that acts only once its guest's forensics are captured."""

    def __init__(self, driver: Driver, captures: Captures) -> None:
        self._driver = driver
        self._captures = captures
        self.name = driver.name

    def begin(self, notification: Notification) -> str:
        return self._driver.begin(notification)

    def send(self, notification: Notification) -> DeliveryResult:
        if notification.forensics:
            self._captures.wait(notification.forensics)
        return self._driver.send(notification)

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        return self._driver.settled(notification, token)
