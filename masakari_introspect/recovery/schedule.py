"""One spool entry's schedule, on the monotonic clock.

A transient failure (connection, timeout, 5xx, a failing hook) backs that
entry off alone, exponentially from ``retry_interval`` to
``retry_interval_max`` (:meth:`Schedule.back_off`); refusals (400, 401,
403) and "host on maintenance" (409) retry it every ``retry_interval_max``
(:meth:`Schedule.hold`). Other entries are sent as soon as they are due.

:class:`Schedules` keeps the sender's schedules, one per entry it has seen
and not finished; operators read them from any thread.
"""

import dataclasses
import threading

from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.outbox import PendingNotification


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Seconds between attempts: from ``low``, doubled, up to ``high``."""

    low: float
    high: float

    @classmethod
    def between(cls, low: float, high: float) -> 'Backoff':
        return cls(low, max(high, low))


@dataclasses.dataclass
class Schedule:
    """One entry's schedule and what was logged about it."""

    notification: Notification  # as last read from the spool
    seen: float                 # when this process first saw it
    not_before: float = 0.0
    delay: float = 0.0          # current backoff
    condition: str = 'new'
    attempts: int = 0
    last_error: str = ''
    posted: bool = False        # an attempt may have been accepted
    renew: bool = False         # next attempt: a generated time past the window
    renewed: bool = False

    def back_off(self, backoff: Backoff, now: float) -> None:
        """Next attempt after twice the last delay (within ``backoff``)."""
        self.delay = min(max(self.delay * 2, backoff.low), backoff.high)
        self.not_before = now + self.delay

    def hold(self, backoff: Backoff, now: float) -> None:
        """Next attempt after the longest delay; backoff starts again."""
        self.delay = 0.0
        self.not_before = now + backoff.high

    def pending(self, now: float) -> PendingNotification:
        """The entry as operators see it."""
        return PendingNotification(
            instance_uuid=self.notification.instance_uuid,
            instance_name=self.notification.instance_name,
            generated_time=self.notification.generated_time,
            age=max(now - self.seen, 0.0), attempts=self.attempts,
            last_error=self.last_error,
            next_attempt=max(self.not_before - now, 0.0))


class Schedules:
    """The schedule of each entry a sender has seen and not finished, by
    notification id; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Schedule] = {}

    def keep(self, ids: set[str]) -> None:
        """Forget the entries not among ``ids`` (gone from the spool)."""
        with self._lock:
            for stale in set(self._by_id) - ids:
                del self._by_id[stale]

    def of(self, notification: Notification, now: float) -> Schedule:
        """The schedule of ``notification``, as last read from the spool
        (a new one, first seen ``now``, if it was not known)."""
        with self._lock:
            schedule = self._by_id.setdefault(
                notification.id, Schedule(notification, seen=now))
            schedule.notification = notification
        return schedule

    def drop(self, notification_id: str) -> None:
        """The entry is finished or withdrawn."""
        with self._lock:
            self._by_id.pop(notification_id, None)

    def pending(self, now: float) -> tuple[PendingNotification, ...]:
        """The entries as operators see them ``now``, oldest first."""
        with self._lock:
            schedules = sorted(self._by_id.values(), key=lambda s: s.seen)
        return tuple(s.pending(now) for s in schedules)
