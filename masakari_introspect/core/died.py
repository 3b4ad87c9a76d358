"""Which part of a reported guest died, for its forensics record.

``verdict.json`` carries it as ``died``; the values (documented in
``doc/source/operations.rst``, "Which part died"):

* ``kernel``: the guest kernel (``kernel_hung``, ``crashed``,
  ``watchdog``, or any other reason while its kernel heartbeat was stale);
* ``userspace``: the agent or the rest of userspace, its kernel alive (a
  live heartbeat) when the agent failed (``unresponsive``,
  ``disconnected``, ``busy``, ``error``, ``inactive``, ``boot_hang``);
* ``application``: an application probe kept failing (``application``);
* ``none``: nothing inside the guest: QEMU paused it for an I/O error or
  the like (``failure_pause``), or it was starved of CPU;
* ``unknown``: the evidence does not say (no heartbeat: the agent failed,
  but whether its kernel lives is not known).

Pure.
"""

from masakari_introspect.core.model import Reason
from masakari_introspect.core.watched import Watched

KERNEL, USERSPACE, APPLICATION = 'kernel', 'userspace', 'application'
NONE, UNKNOWN = 'none', 'unknown'

_KERNEL = (Reason.KERNEL_HUNG, Reason.CRASHED, Reason.WATCHDOG)


def of_report(watched: Watched, now: float,
              reason: Reason | None = None) -> str:
    """The part of ``watched`` that died, as its report is made for
    ``reason`` (the state's own reason if not given)."""
    reason, beat = reason or watched.state.reason, watched.heartbeat
    if reason in _KERNEL:
        return KERNEL
    if reason is Reason.APPLICATION:
        return APPLICATION
    if reason is Reason.FAILURE_PAUSE or watched.starvation.shields(now):
        return NONE
    if beat.stale:
        return KERNEL
    if beat.live:
        return USERSPACE
    return UNKNOWN
