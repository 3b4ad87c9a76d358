"""The one seam every recovery driver implements.

A driver acts on one spooled notification of a failed instance: the
``masakari`` driver posts it to Masakari's API, the ``libvirt`` driver
recovers the domain itself, the ``command`` driver runs an operator's hook
and ``dry_run`` only says what would have been done. The sender
(:mod:`~masakari_introspect.recovery.sender`) calls a driver in this order
for each attempt:

1. :meth:`Driver.begin` announces the attempt: it names the domain (the QEMU
   process) the driver is about to act on; the sender stores that token in
   the spool entry before acting, and while the attempt is under way (and,
   when the token is not empty, for a while after it:
   ``recovery.own_effects.LINGER``) the driver's own effects on that instance (a
   stop, a start, a new domain id) do not withdraw the entry;
2. :meth:`Driver.send` carries the notification out once;
3. after a crash, :meth:`Driver.settled` says whether an attempt that was
   under way (its entry found announced, with its token) took effect.

Drivers never raise: every failure is a :class:`DeliveryResult`.
"""

from typing import Protocol

from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification


class Driver(Protocol):
    """One way of acting on a failed instance; never raises.

    ``name`` names the driver in log lines ("Masakari API unavailable").
    """

    name: str

    def begin(self, notification: Notification) -> str:
        """Announce the attempt: a token naming what the driver is about to
        act on (e.g. the domain's id), stored with the entry (may be '')."""
        ...

    def send(self, notification: Notification) -> DeliveryResult:
        """One attempt: notify, or recover the instance."""
        ...

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        """For an entry found announced: did that attempt take effect?

        A done result (nothing more to do), a TRANSIENT one (cannot tell
        now, ask again later), or None (not done: attempt again).
        """
        ...
