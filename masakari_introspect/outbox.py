"""Delivers spooled notifications, off the probing path, until accepted.

One thread. Transient failures (connection, timeout, 5xx) back off
exponentially from ``retry_interval`` to ``retry_interval_max``; refusals
that need an operator (400, 401, 403) are retried at ``retry_interval_max``.
The API's condition is logged when it changes, not on every attempt.

:class:`DryRunOutbox` stands in for the spool and sender when ``dry_run`` is
on: it sends nothing and logs what would have been sent.
"""

import json
import threading
import time
from collections.abc import Callable
from typing import Protocol

from oslo_log import log as logging

from masakari_introspect.model import Delivery
from masakari_introspect.model import DeliveryResult
from masakari_introspect.model import NOTIFICATIONS_PATH
from masakari_introspect.model import Notification
from masakari_introspect.spool import Spool

LOG = logging.getLogger(__name__)


class Notifier(Protocol):
    def send(self, notification: Notification) -> DeliveryResult:
        ...


class Sender:
    def __init__(self, spool: Spool, notifier: Notifier, *,
                 retry_interval: float, retry_interval_max: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_result: Callable[[Notification, DeliveryResult], None]
                 | None = None) -> None:
        self._spool = spool
        self._notifier = notifier
        self._retry_min = retry_interval
        self._retry_max = max(retry_interval_max, retry_interval)
        self._clock = clock
        self._on_result = on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = 0.0          # current backoff; 0 while the API is fine
        self._not_before = 0.0     # no attempt before this clock value
        self._condition = 'ok'     # what was last logged about the API

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='sender',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, notification: Notification) -> bool:
        """Spool ``notification`` durably and wake the sender.

        False if one is already pending for the instance. Raises SpoolFull
        or OSError when it could not be stored.
        """
        added = self._spool.add(notification)
        self.wake()
        return added

    def withdraw(self, instance_uuid: str, why: str) -> None:
        """Drop the undelivered notification of an instance, if any."""
        for notification in self._spool.pending():
            if notification.instance_uuid == instance_uuid:
                self._spool.remove(notification)
                LOG.info('Withdrew the pending notification for %s: %s',
                         instance_uuid, why)

    def wake(self) -> None:
        """A new notification was spooled: try now unless backing off."""
        self._wake.set()

    def pending(self) -> int:
        return len(self._spool)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.deliver_due()
            except Exception:
                LOG.exception('Unexpected error in the notification sender')
                wait = self._retry_max
            self._wake.wait(wait)
            self._wake.clear()

    def deliver_due(self) -> float | None:
        """Try what is pending if its time has come; seconds to wait next."""
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        for notification in self._spool.pending():
            if self._stop.is_set():
                return None
            result = self._notifier.send(notification)
            self._record(notification, result)
            if result.delivery.done:
                self._spool.remove(notification)
                continue
            self._back_off(result)
            return self._delay
        return None

    def _record(self, notification: Notification,
                result: DeliveryResult) -> None:
        if self._on_result is not None:
            self._on_result(notification, result)
        if result.delivery is Delivery.DELIVERED:
            LOG.info('Masakari accepted the notification for instance %s '
                     '(HTTP %s, generated %s)', notification.instance_uuid,
                     result.status, notification.generated_time)
        elif result.delivery is Delivery.DUPLICATE:
            LOG.info('Masakari already has a notification for instance %s '
                     '(HTTP 409: %s); counted as delivered',
                     notification.instance_uuid, result.message)
        else:
            LOG.debug('Notification for instance %s not delivered: %s %s',
                      notification.instance_uuid, result.status,
                      result.message)
        if result.delivery.done:
            self._delay = 0.0
            self._not_before = 0.0
            if self._condition != 'ok':   # counting the spool reads a dir
                self._log_condition('ok', 'Masakari API reachable again; '
                                    '%d notification(s) still pending',
                                    max(len(self._spool) - 1, 0))

    def _back_off(self, result: DeliveryResult) -> None:
        if result.delivery is Delivery.REJECTED:
            self._delay = self._retry_max
            self._log_condition(
                'rejected', 'Masakari refused a notification (HTTP %s): %s. '
                'This needs a configuration fix ([DEFAULT] host must be a '
                'Masakari host; check [masakari] credentials); retrying '
                'every %.0f s', result.status, result.message, self._delay)
        else:
            self._delay = min(max(self._delay * 2, self._retry_min),
                              self._retry_max)
            self._log_condition(
                'down', 'Masakari API unavailable (%s); notifications are '
                'kept and retried with backoff up to %.0f s',
                result.message if result.status is None
                else 'HTTP %s: %s' % (result.status, result.message),
                self._retry_max)
        self._not_before = self._clock() + self._delay

    def _log_condition(self, condition: str, msg: str, *args: object) -> None:
        if condition == self._condition:
            return
        previous, self._condition = self._condition, condition
        if condition == 'ok':
            if previous != 'ok':
                LOG.info(msg, *args)
        elif condition == 'rejected':
            LOG.error(msg, *args)
        else:
            LOG.warning(msg, *args)


class DryRunOutbox:
    """An outbox that sends nothing: ``[DEFAULT] dry_run``.

    Each notification is logged at WARNING with the exact JSON body the
    notifier would have posted, and handed to ``on_dry_run`` (for metrics).
    """

    def __init__(self, *, on_dry_run: Callable[[Notification], None]
                 | None = None) -> None:
        self._on_dry_run = on_dry_run

    def submit(self, notification: Notification) -> bool:
        LOG.warning('dry_run: not notifying Masakari about instance %s; '
                    'would have sent POST %s %s', notification.instance_uuid,
                    NOTIFICATIONS_PATH, json.dumps(notification.body()))
        if self._on_dry_run is not None:
            self._on_dry_run(notification)
        return True

    def withdraw(self, instance_uuid: str, why: str) -> None:
        """Nothing is ever pending in dry-run mode."""
