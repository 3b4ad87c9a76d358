"""Carrying a report out: forensics, the outbox, the observer.

Runs on the monitor's owner thread, except the forensics capture, which has
a lane of its own so that a stuck QEMU monitor never holds the report.
"""

import dataclasses
import datetime
import pathlib
from typing import Any, Protocol

from oslo_log import log as logging

from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import Withdraw
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.recovery.outbox import Outbox
from masakari_introspect.runtime.lanes import Lane

LOG = logging.getLogger(__name__)


class Forensics(Protocol):
    """Saves what a guest looked like when it was judged failed."""

    def reserve(self, uuid: str, when: datetime.datetime
                ) -> pathlib.Path | None:
        """The folder record() will fill, made up front."""
        ...

    def record(self, uuid: str, name: str, reason: str, stats: dict[str, Any],
               probes: list[dict[str, Any]], when: datetime.datetime,
               folder: pathlib.Path | None = None,
               died: str | None = None) -> pathlib.Path | None:
        ...


class Observer(Protocol):
    """Told about every probe result and report (e.g. for metrics)."""

    def probe_finished(self, result: ProbeResult) -> None:
        ...

    def reported(self, uuid: str, reason: str) -> None:
        ...

    def limit_reached(self, uuid: str, reason: str) -> None:
        ...


class Reporter:
    def __init__(self, outbox: Outbox, forensics: Forensics | None,
                 observer: Observer | None) -> None:
        self._outbox = outbox
        self._forensics = forensics
        self._observer = observer
        self.lane = Lane('forensics', 1)

    def report(self, report: Report) -> bool:
        """Save forensics, spool the notification; False if it could not
        be spooled."""
        notification = report.notification
        when = datetime.datetime.fromisoformat(
            notification.generated_time).replace(tzinfo=datetime.timezone.utc)
        folder = None
        if self._forensics is not None:
            folder = self._forensics.reserve(notification.instance_uuid, when)
            if folder is not None:
                notification = dataclasses.replace(
                    notification, forensics=str(folder))
        LOG.error('Instance %s (%s) failed: %s; reporting it%s',
                  notification.instance_name, notification.instance_uuid,
                  notification.reason,
                  '; forensics in %s' % folder if folder else '')
        try:
            if not self._outbox.submit(notification):
                LOG.info('A notification for %s is already pending',
                         notification.instance_uuid)
        except Exception:
            LOG.exception('Could not queue the notification for %s; it is '
                          'decided again at the next missed interval',
                          notification.instance_uuid)
            return False
        if self._observer is not None:
            self._observer.reported(notification.instance_uuid,
                                    notification.reason)
        if self._forensics is not None and folder is not None:
            forensics, saved = self._forensics, notification

            def record() -> None:
                forensics.record(saved.instance_uuid, saved.instance_name,
                                 saved.reason, report.stats,
                                 list(report.probes), when, folder,
                                 died=report.died)

            self.lane.submit(record,
                             key='forensics-' + notification.instance_uuid)
        return True

    def withdraw(self, action: Withdraw) -> bool:
        """True if a pending notification was dropped."""
        try:
            return self._outbox.withdraw(action.uuid, action.why,
                                         action.cause)
        except Exception:
            LOG.exception('Could not withdraw the notification for %s',
                          action.uuid)
            return False
