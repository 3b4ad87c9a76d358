"""Masakari's duplicate window: when each instance was last reported, and
when a refused new failure may be sent again.

Masakari answers 409 "duplicate" to a notification whose host, type and
payload match one generated within its
``duplicate_notification_detection_interval``; our payload is the instance
and fixed strings, so a second failure of the same instance soon after its
report is refused. The sender asks this record when the previous report was
accepted, to send the new one again once the window has passed.

Per instance: the previous report's ``generated_time`` (wall clock, what
Masakari compares), kept in one small file so that it survives a restart,
and the monotonic time of its acceptance in this process (for the wait).
Records older than a day are dropped when the file is written.

:class:`DuplicateWindow` judges a 409 "duplicate": a resend of a
notification Masakari already has is delivery; a new failure within
``duplicate_window`` of the previous report is sent again once the window
has passed (on the monotonic clock), with ``generated_time = max(wall now,
previous + duplicate_window + 1 s)``; after the window the 409 means that
Masakari's interval is longer than ours (an ERROR, and backoff).
"""

import dataclasses
import datetime
import json
import math
import pathlib
import time
from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.durable import write_atomically
from masakari_introspect.recovery import logs
from masakari_introspect.recovery.schedule import Backoff
from masakari_introspect.recovery.schedule import Schedule

LOG = logging.getLogger(__name__)

KEEP = 86400.0   # longer than any sane duplicate window


def parse_time(stamp: str) -> datetime.datetime | None:
    """A naive UTC datetime from an ISO 8601 stamp; None if it is not one."""
    try:
        when = datetime.datetime.fromisoformat(stamp.removesuffix('Z'))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


class AcceptedLog:
    """Per instance, the last accepted notification's time."""

    def __init__(self, path: pathlib.Path | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._clock = clock
        self._generated: dict[str, str] = {}
        self._accepted_at: dict[str, float] = {}   # monotonic, this process
        if path is not None:
            self._generated = self._load(path)

    def record(self, uuid: str, generated_time: str) -> None:
        """Masakari accepted (or already had) this notification; never
        raises."""
        self._generated[uuid] = generated_time
        self._accepted_at[uuid] = self._clock()
        newest = parse_time(generated_time)
        if newest is not None:   # drop what no window can reach
            cutoff = newest - datetime.timedelta(seconds=KEEP)
            self._generated = {
                u: t for u, t in self._generated.items()
                if (parse_time(t) or newest) >= cutoff}
        if self._path is None:
            return
        try:
            write_atomically(self._path,
                             json.dumps(self._generated).encode())
        except OSError as exc:
            LOG.warning('Cannot record in %s when the notification for %s '
                        'was accepted: %s', self._path, uuid, exc)

    def generated(self, uuid: str) -> datetime.datetime | None:
        """The generated time of the instance's last accepted report."""
        stamp = self._generated.get(uuid)
        return parse_time(stamp) if stamp else None

    def accepted_at(self, uuid: str) -> float | None:
        """When (monotonic) this process saw it accepted; None if another
        process did."""
        return self._accepted_at.get(uuid)

    @staticmethod
    def _load(path: pathlib.Path) -> dict[str, str]:
        try:
            record = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            LOG.warning('Cannot read %s (%s): duplicate answers of Masakari '
                        'are judged without the earlier reports', path, exc)
            return {}
        if not isinstance(record, dict):
            return {}
        return {str(k): str(v) for k, v in record.items()}


class DuplicateWindow:
    """Judges duplicate answers with an :class:`AcceptedLog`."""

    def __init__(self, accepted: AcceptedLog, window: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.accepted = accepted
        self.window = window
        self._clock = clock
        self._wall = wall

    def wait(self, uuid: str, generated_time: str, renewed: bool,
             said: bool = False) -> float | None:
        """Seconds until a notification refused as a duplicate may go
        again; None if it was not within the window (or was renewed
        already): then Masakari's interval is longer than ours (an ERROR
        unless ``said`` already)."""
        previous = self.accepted.generated(uuid)
        sent = parse_time(generated_time)
        if renewed or (previous is not None and sent is not None and
                       (sent - previous).total_seconds() > self.window):
            (LOG.debug if said else LOG.error)('Masakari refused the notification for instance %s '
                      '(generated %s) as a duplicate, though it is more '
                      'than [masakari] duplicate_window = %.0f s after the '
                      'previous report (generated %s): set duplicate_window '
                      'to Masakari\'s duplicate_notification_detection_'
                      'interval; retrying with backoff', uuid,
                      generated_time, self.window,
                      previous.isoformat() if previous else 'unknown')
            return None
        span = self.window + 1.0
        accepted_at = self.accepted.accepted_at(uuid)
        if accepted_at is not None:
            left = accepted_at + span - self._clock()
        elif previous is not None:   # accepted by an earlier process
            left = (previous - self._utcnow()).total_seconds() + span
        else:
            left = span
        left = min(max(left, 0.0), span)
        LOG.info('Masakari refused the notification for instance %s '
                 '(generated %s) as a duplicate of its previous report '
                 '(generated %s), within [masakari] duplicate_window = %.0f '
                 's: this is a new failure; sending it again in %.0f s',
                 uuid, generated_time,
                 previous.isoformat() if previous else 'unknown',
                 self.window, left)
        return left

    @staticmethod
    def resend(result: DeliveryResult, posted: bool,
               settled: Callable[[], DeliveryResult | None]
               ) -> DeliveryResult | None:
        """A 409 duplicate: delivery if Masakari has this very notification
        (a resend of one that may have been ``posted``, as the driver's
        ``settled`` check says); None if it is a new failure; TRANSIENT if
        unsure."""
        if not posted:
            return None
        check = settled()
        if check is None or not (check.delivery.done or
                                 check.delivery is Delivery.TRANSIENT):
            return None
        if check.delivery is Delivery.TRANSIENT:
            return check
        return DeliveryResult(Delivery.DUPLICATE, result.status,
                              'a resend: %s' % check.message)

    def postpone(self, notification: Notification, schedule: Schedule,
                 backoff: Backoff) -> None:
        """A new failure refused as a duplicate of the previous report:
        sent again, renewed, once the window has passed; after the
        window, with backoff."""
        wait = self.wait(
            notification.instance_uuid, notification.generated_time,
            schedule.renewed, said=schedule.condition == 'late_duplicate')
        schedule.renew, schedule.posted = True, False
        schedule.last_error = 'HTTP 409: duplicate'
        if wait is None:
            schedule.condition = 'late_duplicate'
            schedule.back_off(backoff, self._clock())
        else:
            schedule.condition = 'duplicate'
            schedule.not_before = self._clock() + wait

    def renew(self, original: Notification, schedule: Schedule,
              replace: Callable[[Notification, Notification], bool]
              ) -> Notification | None:
        """``original`` with a generated time past the window, put in its
        place by ``replace`` (the spool's); None if it was withdrawn.
        Raises OSError when it cannot be written."""
        renewed = dataclasses.replace(
            original, generated_time=self.renewed_time(
                original.instance_uuid, original.generated_time))
        if not replace(original, renewed):
            return None
        schedule.renew, schedule.renewed = False, True
        schedule.notification = renewed
        logs.renewed(original, renewed)
        return renewed

    def renewed_time(self, uuid: str, generated_time: str) -> str:
        """max(wall now, previous + window + 1 s), whole seconds."""
        previous = self.accepted.generated(uuid) or \
            parse_time(generated_time) or self._utcnow()
        floor = previous.replace(microsecond=0) + datetime.timedelta(
            seconds=math.ceil(self.window) + 1)
        return max(self._utcnow(), floor).isoformat()

    def _utcnow(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(
            self._wall(), datetime.timezone.utc).replace(
                tzinfo=None, microsecond=0)
