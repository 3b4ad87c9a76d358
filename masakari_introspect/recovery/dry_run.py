"""The outbox of ``[DEFAULT] dry_run``: nothing is sent, everything logged."""

import json
from collections.abc import Callable

from oslo_log import log as logging

from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.notification import NOTIFICATIONS_PATH
from masakari_introspect.core.notification import Notification

LOG = logging.getLogger(__name__)


class DryRunOutbox:
    """An outbox that sends nothing: ``[DEFAULT] dry_run``.

    Each notification is logged at WARNING with the exact JSON body the
    notifier would have posted (or, with a local recovery driver, the
    ``action`` it would have taken), and handed to ``on_dry_run`` (for
    metrics).
    """

    def __init__(self, *, on_dry_run: Callable[[Notification], None]
                 | None = None, action: str = '') -> None:
        self._on_dry_run = on_dry_run
        self._action = action

    def submit(self, notification: Notification) -> bool:
        if self._action:
            LOG.warning('dry_run: not recovering instance %s %s (%s); would '
                        'have %s', notification.instance_name,
                        notification.instance_uuid, notification.reason,
                        self._action)
        else:
            LOG.warning('dry_run: not notifying Masakari about instance %s; '
                        'would have sent POST %s %s',
                        notification.instance_uuid, NOTIFICATIONS_PATH,
                        json.dumps(notification.body()))
        if self._on_dry_run is not None:
            self._on_dry_run(notification)
        return True

    def withdraw(self, instance_uuid: str, why: str,
                 cause: WithdrawCause = WithdrawCause.ANSWERED) -> bool:
        """Nothing is ever pending in dry-run."""
        return False
