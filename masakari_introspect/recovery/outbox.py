"""What the reporter hands decided failures to, and what it shows of them.

:class:`Outbox` is the seam between the monitor and delivery: the
:class:`~masakari_introspect.recovery.sender.Sender` (spool and recovery
driver) or, with ``[DEFAULT] dry_run``, the
:class:`~masakari_introspect.recovery.dry_run.DryRunOutbox`.
:class:`PendingNotification` is one spool entry as the status command and
the metrics see it.
"""

import dataclasses
from typing import Protocol

from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.notification import Notification


class Outbox(Protocol):
    def submit(self, notification: Notification) -> bool:
        """Queue ``notification``; False if one is pending for the
        instance. Raises when it could not be queued."""
        ...

    def withdraw(self, instance_uuid: str, why: str,
                 cause: WithdrawCause = WithdrawCause.ANSWERED) -> bool:
        """The instance's pending notification is no longer wanted; True
        if one was pending and is dropped."""
        ...


@dataclasses.dataclass(frozen=True)
class PendingNotification:
    """One notification not yet carried out, for operators.

    ``age`` counts seconds since this process first saw the entry
    (monotonic); ``attempts`` the attempts made by this process;
    ``last_error`` is empty until an attempt failed; ``next_attempt`` is in
    seconds from now (0: due).
    """

    instance_uuid: str
    instance_name: str
    generated_time: str
    age: float
    attempts: int
    last_error: str
    next_attempt: float
