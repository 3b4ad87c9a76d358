"""Acts on spooled notifications, off the probing path, until done.

One thread hands each spooled notification to the recovery driver (Masakari,
libvirt or a command, see :class:`RecoveryDriver`) until it succeeds or is
withdrawn. The spool makes this exactly-once across crashes: each entry is
marked *started* before an attempt and removed after success; an entry found
started is first checked with the driver (:meth:`RecoveryDriver.settled`),
so that an attempt that took effect just before a crash is not repeated.

Scheduling: transient failures (connection, timeout, 5xx, a failing hook)
mean the driver is unavailable: everything backs off together, exponentially
from ``retry_interval`` to ``retry_interval_max``. Refusals (400, 401, 403)
and "host on maintenance" (409) concern one entry: it alone is retried every
``retry_interval_max`` and the others go on. Conditions are logged when they
change, not on every attempt.

With ``dry_run`` on, :class:`~masakari_introspect.recovery.dry_run.DryRunOutbox`
stands in for the spool and sender.
"""

import dataclasses
import threading
import time
from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core.model import Delivery
from masakari_introspect.core.model import DeliveryResult
from masakari_introspect.core.model import Notification
from masakari_introspect.recovery.driver import Driver
from masakari_introspect.recovery.spool import Entry
from masakari_introspect.recovery.spool import Spool

LOG = logging.getLogger(__name__)

@dataclasses.dataclass
class _Schedule:
    """When one entry may be tried again, and what was logged about it."""

    not_before: float = 0.0
    condition: str = 'new'


class Sender:
    def __init__(self, spool: Spool, driver: Driver, *,
                 retry_interval: float, retry_interval_max: float,
                 hostname: str = '',
                 clock: Callable[[], float] = time.monotonic,
                 on_result: Callable[[Notification, DeliveryResult], None]
                 | None = None) -> None:
        self._spool = spool
        self._driver = driver
        self._hostname = hostname
        self._retry_min = retry_interval
        self._retry_max = max(retry_interval_max, retry_interval)
        self._clock = clock
        self._on_result = on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = 0.0          # current backoff; 0 while the API is fine
        self._not_before = 0.0     # no attempt at all before this
        self._condition = 'ok'     # what was last logged about the driver
        self._entries: dict[str, _Schedule] = {}   # by notification id
        self._done: set[str] = set()   # done, but the removal failed
        self._in_flight = ''       # instance of the attempt under way

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
        """Drop the instance's pending notification, if any; never raises.

        Called when the guest answers again or leaves the host before the
        notification was acted on. Ignored for the instance whose attempt
        is under way: a local driver's own destroy and start must not end it.
        """
        if self._in_flight == instance_uuid:
            LOG.debug('Not withdrawing the notification for %s (%s): an '
                      'attempt on it is under way', instance_uuid, why)
            return
        try:
            withdrawn = self._spool.withdraw(instance_uuid)
        except OSError as exc:
            LOG.error('Could not withdraw the pending notification for %s '
                      '(%s): %s', instance_uuid, why, exc)
            return
        if withdrawn is None:
            return
        self._entries.pop(withdrawn.id, None)
        LOG.info('Withdrew the pending notification for %s: %s%s',
                 instance_uuid, why,
                 '; an attempt under way may still take effect'
                 if self._in_flight == instance_uuid else '')

    def wake(self) -> None:
        """A new notification was spooled: try now unless backing off."""
        self._wake.set()

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
        """Try each entry whose time has come; seconds to wait next."""
        now = self._clock()
        if now < self._not_before:
            return self._not_before - now
        entries = self._spool.entries()
        known = {entry.notification.id for entry in entries}
        for stale in set(self._entries) - known:
            del self._entries[stale]
        self._done &= known
        waits = []
        for entry in entries:
            if self._stop.is_set():
                return None
            schedule = self._entries.setdefault(entry.notification.id,
                                                _Schedule())
            if now < schedule.not_before:
                waits.append(schedule.not_before - now)
                continue
            result = self._attempt(entry)
            if result is None:
                continue
            if result.delivery is Delivery.TRANSIENT:
                self._back_off(result)
                return self._delay
            if not result.delivery.done:
                schedule.not_before = self._clock() + self._retry_max
                waits.append(self._retry_max)
            now = self._clock()
        return min(waits) if waits else None

    def _attempt(self, entry: Entry) -> DeliveryResult | None:
        """Act on one entry once; None when there was nothing to do."""
        original = entry.notification
        if original.id in self._done:
            self._remove(original)
            return None
        notification = original
        if self._hostname:   # the configured host, not the one stored
            notification = dataclasses.replace(original,
                                               hostname=self._hostname)
        if entry.started:
            result = self._driver.settled(notification, entry.token)
            if result is not None:
                self._record(notification, result, settled=True)
                if result.delivery.done:
                    self._remove(original)
                return result
        token = self._driver.begin(notification)
        if not self._spool.mark_started(original, token):
            return None      # withdrawn meanwhile
        self._in_flight = original.instance_uuid
        try:
            result = self._driver.send(notification)
        finally:
            self._in_flight = ''
        self._record(notification, result)
        if result.delivery.done:
            self._remove(original)
        return result

    def _remove(self, notification: Notification) -> None:
        try:
            self._spool.remove(notification)
        except OSError as exc:
            # Not sent again: the removal is retried on the next round.
            self._done.add(notification.id)
            LOG.error('Could not remove the spool entry for %s: %s',
                      notification.instance_uuid, exc)
        else:
            self._done.discard(notification.id)

    def _record(self, notification: Notification, result: DeliveryResult,
                settled: bool = False) -> None:
        if self._on_result is not None:
            self._on_result(notification, result)
        uuid = notification.instance_uuid
        if settled and result.delivery.done:
            LOG.info('%s: the earlier attempt for instance %s (generated %s) '
                     'took effect: %s; not repeated', self._driver.name,
                     uuid, notification.generated_time, result.message)
        elif result.delivery is Delivery.DELIVERED:
            if result.status is not None:
                LOG.info('Masakari accepted the notification for instance '
                         '%s (HTTP %s, generated %s)', uuid, result.status,
                         notification.generated_time)
            else:
                LOG.info('%s recovered instance %s %s (generated %s): %s',
                         self._driver.name, notification.instance_name,
                         uuid, notification.generated_time, result.message)
        elif result.delivery is Delivery.DUPLICATE:
            LOG.info('Masakari already has a notification for instance %s '
                     '(HTTP 409: %s); counted as delivered', uuid,
                     result.message)
        else:
            LOG.debug('Notification for instance %s not delivered: %s %s',
                      uuid, result.status, result.message)
        if result.delivery is not Delivery.TRANSIENT:
            self._delay = 0.0
            self._not_before = 0.0
            if self._condition != 'ok':   # counting the spool reads a dir
                self._condition = 'ok'
                LOG.info('%s reachable again; %d notification(s) still '
                         'pending', self._driver.name,
                         max(len(self._spool) - 1, 0))
        self._entry_condition(notification, result)

    def _entry_condition(self, notification: Notification,
                         result: DeliveryResult) -> None:
        """Log a refusal or a maintenance once per change of one entry."""
        schedule = self._entries.setdefault(notification.id, _Schedule())
        condition = result.delivery.value
        if condition == schedule.condition or \
                result.delivery is Delivery.TRANSIENT:
            return
        previous, schedule.condition = schedule.condition, condition
        uuid = notification.instance_uuid
        if result.delivery is Delivery.REJECTED:
            LOG.error('%s refused the notification for instance %s sent as '
                      'host %s (%s): %s. This needs a configuration fix '
                      '([DEFAULT] host must be the name of this host in '
                      'Masakari; check the credentials); retrying every '
                      '%.0f s', self._driver.name, uuid,
                      notification.hostname,
                      'HTTP %s' % result.status if result.status else
                      'no status', result.message, self._retry_max)
        elif result.delivery is Delivery.MAINTENANCE:
            LOG.warning('Masakari has host %s on maintenance (HTTP 409: %s); '
                        'the notification for instance %s is kept and sent '
                        'again every %.0f s until maintenance ends',
                        notification.hostname, result.message, uuid,
                        self._retry_max)
        elif previous == Delivery.MAINTENANCE.value:
            LOG.info('Host %s is no longer on maintenance in Masakari',
                     notification.hostname)

    def _back_off(self, result: DeliveryResult) -> None:
        self._delay = min(max(self._delay * 2, self._retry_min),
                          self._retry_max)
        if self._condition != 'down':
            self._condition = 'down'
            LOG.warning(
                '%s unavailable (%s); notifications are kept and retried '
                'with backoff up to %.0f s', self._driver.name,
                result.message if result.status is None
                else 'HTTP %s: %s' % (result.status, result.message),
                self._retry_max)
        self._not_before = self._clock() + self._delay
