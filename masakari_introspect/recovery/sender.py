"""Acts on spooled notifications, off the probing path, until done.

One thread hands each spooled notification to the recovery driver (see
:mod:`~masakari_introspect.recovery.driver`) until it succeeds or is
withdrawn. The spool makes this exactly-once across crashes: each entry is
marked *announced* before an attempt and removed after success; an entry
found announced is first checked with the driver (``settled``), so that an
attempt that took effect just before a crash is not repeated.

Every entry has its own schedule (:mod:`~masakari_introspect.recovery.schedule`):
one guest whose recovery keeps failing delays no other. Conditions are
logged when they change, not on every attempt (an unreachable Masakari API
once for all entries).

A 409 "duplicate" is judged by Masakari's duplicate window
(:mod:`~masakari_introspect.recovery.duplicate_window`).

A withdrawal that the recovery under way causes itself (a destroy and
start) is ignored: see :mod:`~masakari_introspect.recovery.own_effects`.

With ``dry_run`` on, :class:`~masakari_introspect.recovery.dry_run.DryRunOutbox`
stands in for the spool and sender.
"""

import dataclasses
import threading
import time
from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery import logs
from masakari_introspect.recovery.driver import Driver
from masakari_introspect.recovery.duplicate_window import AcceptedLog
from masakari_introspect.recovery.duplicate_window import DuplicateWindow
from masakari_introspect.recovery.outbox import PendingNotification
from masakari_introspect.recovery.own_effects import LINGER
from masakari_introspect.recovery.own_effects import OwnEffects
from masakari_introspect.recovery.schedule import Backoff
from masakari_introspect.recovery.schedule import Schedule
from masakari_introspect.recovery.schedule import Schedules
from masakari_introspect.recovery.spool import Entry
from masakari_introspect.recovery.spool import Spool

LOG = logging.getLogger(__name__)


class Sender:
    def __init__(self, spool: Spool, driver: Driver, *,
                 retry_interval: float, retry_interval_max: float,
                 hostname: str = '', duplicate_window: float = 180.0,
                 accepted: AcceptedLog | None = None,
                 linger: float = LINGER,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 on_result: Callable[[Notification, DeliveryResult], None]
                 | None = None) -> None:
        self._spool = spool
        self._driver = driver
        self._hostname = hostname
        self._backoff = Backoff.between(retry_interval, retry_interval_max)
        self._duplicates = DuplicateWindow(
            accepted or AcceptedLog(None, clock=clock), duplicate_window,
            clock=clock, wall=wall)
        self._own = OwnEffects(linger, clock)
        self._clock = clock
        self._on_result = on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._schedules = Schedules()
        self._done: set[str] = set()   # done, but the removal failed
        self._outage = logs.Outage(driver, self._backoff.high)

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

    def withdraw(self, instance_uuid: str, why: str,
                 cause: WithdrawCause = WithdrawCause.ANSWERED) -> bool:
        """Drop the instance's pending notification, if any; True if one
        was dropped before any attempt to send it. Never raises.

        Not when the cause is the recovery's own action (see the module).
        """
        if self._own.shields(instance_uuid, cause, why):
            if self._spool.has(instance_uuid):
                LOG.info('Kept the pending notification for %s: %s comes '
                         'from the recovery under way', instance_uuid, why)
            return False
        try:
            withdrawn = self._spool.withdraw(instance_uuid)
        except OSError as exc:
            LOG.error('Could not withdraw the pending notification for %s '
                      '(%s): %s', instance_uuid, why, exc)
            return False
        if withdrawn is None:
            return False
        self._schedules.drop(withdrawn.id)
        acting = self._own.in_flight(instance_uuid)
        LOG.info('Withdrew the pending notification for %s: %s%s',
                 instance_uuid, why, '; an attempt under way may still take '
                 'effect' if acting else '')
        return not acting    # an attempt under way may have reported it

    def wake(self) -> None:
        """A new notification was spooled: try what is due now."""
        self._wake.set()

    def pending_view(self) -> tuple[PendingNotification, ...]:
        """The entries this sender has seen and not finished, oldest
        first; safe from any thread."""
        return self._schedules.pending(self._clock())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()   # before reading the spool: no lost wake
            try:
                wait = self.deliver_due()
            except Exception:
                LOG.exception('Unexpected error in the notification sender')
                wait = self._backoff.high
            self._wake.wait(wait)

    def deliver_due(self) -> float | None:
        """Try each entry whose time has come; seconds to wait next."""
        entries = self._spool.entries()
        now = self._clock()
        known = {entry.notification.id for entry in entries}
        self._schedules.keep(known)
        self._done &= known
        self._own.forget_past()
        waits = []
        for entry in entries:
            if self._stop.is_set():
                return None
            schedule = self._schedules.of(entry.notification, now)
            if self._clock() >= schedule.not_before and \
                    not self._attempt_alone(entry, schedule):
                continue
            waits.append(max(schedule.not_before - self._clock(), 0.0))
        if self._done or len(self._spool) > len(entries):
            waits.append(self._backoff.low)   # a removal, a read to retry
        return min(waits) if waits else None

    def _attempt_alone(self, entry: Entry, schedule: Schedule) -> bool:
        """:meth:`_attempt`, whose failure ends neither the pass nor any
        other entry: that entry backs off (logged once per change)."""
        try:
            return self._attempt(entry, schedule)
        except Exception as exc:
            if schedule.condition != 'error':
                LOG.exception('Unexpected error acting on the notification '
                              'for instance %s; it is retried alone, with '
                              'backoff', entry.notification.instance_uuid)
            schedule.condition = 'error'
            schedule.last_error = 'unexpected error: %s' % exc
            schedule.back_off(self._backoff, self._clock())
            return True

    def _attempt(self, entry: Entry, schedule: Schedule) -> bool:
        """Act on one entry once; True if it stays pending."""
        original = entry.notification
        if original.id in self._done:
            self._remove(original)
            return False
        if schedule.renew:
            try:
                renewed = self._duplicates.renew(original, schedule,
                                                 self._spool.replace)
            except OSError as exc:
                LOG.error('Could not renew the spool entry for %s (%s); '
                          'retried with backoff', original.instance_uuid, exc)
                schedule.last_error = 'cannot renew: %s' % exc
                schedule.back_off(self._backoff, self._clock())
                return True
            if renewed is None:
                return False     # withdrawn meanwhile
            original, entry = renewed, Entry(renewed)
        notification = original
        if self._hostname:   # the configured host, not the one stored
            notification = dataclasses.replace(original,
                                               hostname=self._hostname)
        if entry.announced:
            schedule.posted = True
            result = self._driver.settled(notification, entry.token)
            if result is not None:
                return self._conclude(original, notification, schedule,
                                      result, settled=True)
        token = self._driver.begin(notification)
        try:
            if not self._spool.mark_announced(original, token):
                return False     # withdrawn meanwhile
        except OSError as exc:
            LOG.error('Could not mark the spool entry for %s announced (%s); '
                      'not acted on now, retried with backoff',
                      original.instance_uuid, exc)
            schedule.last_error = 'cannot mark announced: %s' % exc
            schedule.back_off(self._backoff, self._clock())
            return True
        uuid = original.instance_uuid
        self._own.begin(uuid)
        try:
            result = self._driver.send(notification)
        finally:
            new_process = self._own.end(uuid, announced=bool(token))
        pending = self._judge(original, notification, schedule, token,
                              result)
        if pending and new_process is not None and not token:
            self.withdraw(uuid, new_process, WithdrawCause.NEW_PROCESS)
            return False
        return pending

    def _judge(self, original: Notification, notification: Notification,
               schedule: Schedule, token: str,
               result: DeliveryResult) -> bool:
        """Record one attempt's result; True if the entry stays pending."""
        schedule.attempts += 1
        if result.delivery is Delivery.DUPLICATE:
            judged = self._duplicates.resend(
                result, schedule.posted,
                lambda: self._driver.settled(notification, token))
            if judged is None:   # a new failure: again after the window
                if self._on_result is not None:
                    self._on_result(notification, DeliveryResult(
                        Delivery.DUPLICATE, 409, 'a new failure'))
                self._duplicates.postpone(notification, schedule,
                                          self._backoff)
                return True
            result = judged
        if result.delivery is Delivery.TRANSIENT:
            schedule.posted = True
        return self._conclude(original, notification, schedule, result)

    def _conclude(self, original: Notification, notification: Notification,
                  schedule: Schedule, result: DeliveryResult,
                  settled: bool = False) -> bool:
        """Record the result and schedule the entry; True if pending."""
        if self._on_result is not None:
            self._on_result(notification, result)
        self._outage.seen(result, len(self._spool))
        logs.result(self._driver.name, notification, result, settled)
        if schedule.condition != result.delivery.value:
            logs.entry_condition(
                self._driver.name, notification, result, schedule.condition,
                self._backoff.high, quiet=getattr(self._driver, 'outage_wide',
                                               False))
        if result.delivery.done:
            if schedule.condition not in ('new', 'ok'):
                logs.done(self._driver.name, notification, schedule.attempts)
            self._duplicates.accepted.record(notification.instance_uuid,
                                             notification.generated_time)
            self._remove(original)
            self._schedules.drop(original.id)
            return False
        schedule.condition = result.delivery.value
        schedule.last_error = logs.describe(result)
        if result.delivery is Delivery.TRANSIENT:
            schedule.back_off(self._backoff, self._clock())
        else:
            schedule.hold(self._backoff, self._clock())
        return True

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
