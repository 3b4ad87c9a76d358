"""An instance's report, and what became of it: the notification and its
forensics, made within the recovery limit, and the instance's side of a
report that could not be kept or was withdrawn before it was sent.

Part of :class:`~masakari_introspect.core.fleet.Fleet`, which decides when
to report and carries the actions out; pure, the clocks passed in.
"""

import dataclasses
import datetime
from typing import Any

from masakari_introspect.core import died
from masakari_introspect.core.actions import Action
from masakari_introspect.core.actions import Limited
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Save
from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import Reason
from masakari_introspect.core.notification import Notification
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.watched import Watched


def report(watched: Watched, settings: Settings, now: float, wall: float,
           reason: Reason | None = None,
           record: dict[str, Any] | None = None) -> list[Action]:
    """Report ``watched`` for ``reason`` (its own by default), with
    ``record`` as one more forensics entry, if the recovery limit allows;
    if not, the report is held (said once)."""
    state = watched.state
    reason = reason or state.reason or Reason.UNRESPONSIVE
    limited = watched.limited
    if not watched.allow_report(now, wall, settings.max_recoveries,
                                settings.recovery_window, reason):
        return [Save()] if limited else [Save(), Limited(state.uuid,
                                                         reason.value)]
    when = datetime.datetime.fromtimestamp(wall, datetime.timezone.utc)
    notification = dataclasses.replace(
        Notification.create(state.uuid, settings.hostname, when),
        instance_name=state.name, reason=reason.value)
    return [Save(), Report(notification, dict(watched.counters),
                           tuple(watched.probes) + ((record,) if record
                                                    else ()),
                           died.of_report(watched, now, reason))]


def failed(watched: Watched) -> list[Action]:
    """The instance's notification could not be spooled: decide again."""
    if not watched.state.reported:
        return []
    watched.state.report_failed()
    watched.forget_report()
    return [Save()]


def withdrawn(watched: Watched, cause: WithdrawCause) -> list[Action]:
    """The instance's notification was dropped while still pending, for
    ``cause``: for maintenance, the report was never made."""
    if cause is not WithdrawCause.MAINTENANCE or not watched.state.reported:
        return []
    watched.state.report_withdrawn()
    watched.forget_report()
    return [Save()]
