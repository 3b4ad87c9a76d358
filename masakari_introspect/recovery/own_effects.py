"""The recovery's own effects: withdrawals that an attempt causes itself.

While an attempt on an instance is under way, and for ``linger`` seconds
after it when the driver announced the domain it acts on (a non-empty token
from ``begin``, as the libvirt driver gives), a withdrawal because the guest
left the host or runs in a new QEMU process is the recovery's own doing (a
destroy and start) and is ignored. Masakari's stop and start come later,
through Nova: after a POST nothing is shielded, and a new QEMU process seen
during an attempt of a driver that announced no domain (a guest started
again by hand during an API outage) withdraws the entry once that attempt
has failed: :meth:`OwnEffects.end` hands back why.
"""

import math
import threading
import time
from collections.abc import Callable

from masakari_introspect.core.actions import WithdrawCause

LINGER = 15.0   # after an attempt, its own effects still arrive as events
_CAUSES = (WithdrawCause.LEFT_HOST, WithdrawCause.NEW_PROCESS)


class OwnEffects:
    """Per instance, until when its recovery's effects are expected;
    thread-safe."""

    def __init__(self, linger: float = LINGER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._linger = linger
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}   # instance -> expected until
        self._new_process: dict[str, str] = {}   # seen in flight: why

    def shields(self, uuid: str, cause: WithdrawCause, why: str) -> bool:
        """True if withdrawing ``uuid`` for ``cause`` would undo the
        recovery's own doing; a new process seen while an attempt is under
        way is noted (see :meth:`end`)."""
        if cause not in _CAUSES:
            return False
        now = self._clock()
        with self._lock:
            until = self._until.get(uuid)
            if until is None or now >= until:
                return False
            if cause is WithdrawCause.NEW_PROCESS and until == math.inf:
                self._new_process[uuid] = why
        return True

    def in_flight(self, uuid: str) -> bool:
        """Whether an attempt on ``uuid`` is under way."""
        with self._lock:
            return self._until.get(uuid) == math.inf

    def begin(self, uuid: str) -> None:
        """An attempt on ``uuid`` starts."""
        with self._lock:
            self._until[uuid] = math.inf
            self._new_process.pop(uuid, None)

    def end(self, uuid: str, announced: bool) -> str | None:
        """The attempt on ``uuid`` ended; its effects are expected for
        ``linger`` more seconds if it ``announced`` its domain. Why a new
        process was seen during the attempt, if one was."""
        with self._lock:
            self._until[uuid] = self._clock() + (
                self._linger if announced else 0.0)
            return self._new_process.pop(uuid, None)

    def forget_past(self) -> None:
        """Drop the instances whose effects are no longer expected."""
        now = self._clock()
        with self._lock:
            self._until = {u: t for u, t in self._until.items() if t > now}
