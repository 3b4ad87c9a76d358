"""How many of libvirtd's workers the agent calls may take.

libvirtd (or virtqemud) serves RPCs on ``max_workers`` threads (20 unless
changed in ``libvirtd.conf``), and an agent call holds its worker until the
agent answers or libvirt gives up on it: a hung agent holds one for the probe
timeout, then five seconds for every later call. Were the probes to take them
all, healthy guests' probes, the statistics calls, Nova and Masakari's own
stop and start on this host would wait behind hung guests. (The statistics
calls are not counted in the budget: they are what it leaves workers for.
Each interval brings the bulk call, which holds a worker while it waits for
each QEMU, and the vCPU call, one short RPC that waits for no QEMU; both
run on the main connection, never behind agent calls.)

So the monitor's agent calls in flight never exceed the budget
``B = max(2, floor(max_workers x worker_share))``: a call counts from the
moment a lane thread makes it until libvirt returns it, even after the
monitor gave up waiting for it, because a lane thread is what makes the call
and it stays busy until then. The suspect lane (guests that did not answer)
gets at most ``ceil(B / 5)`` of them, the healthy lane the rest.
Application probes' calls take a slot of the healthy lane only when no ping
waits for one, and at most ``max(1, floor(B / 4))`` at once.
"""

import dataclasses
import math

SUSPECT_DIVISOR = 5     # the suspect lane gets at most ceil(B / 5)
APPLICATION_DIVISOR = 4   # application probes: at most floor(B / 4)
MINIMUM = 2             # one call for each lane


@dataclasses.dataclass(frozen=True)
class Budget:
    """Agent calls in flight at once: ``total`` in all, ``suspect`` of
    them on the suspect lane, ``healthy`` on the healthy lane."""

    total: int
    suspect: int

    @classmethod
    def of(cls, max_workers: int, worker_share: float) -> 'Budget':
        """The budget for libvirtd's ``max_workers`` and our share."""
        if max_workers < 1:
            raise ValueError('max_workers must be at least 1')
        if not 0 < worker_share <= 1:
            raise ValueError('worker_share must be above 0 and at most 1')
        total = max(MINIMUM, math.floor(max_workers * worker_share))
        return cls(total, math.ceil(total / SUSPECT_DIVISOR))

    @property
    def healthy(self) -> int:
        return self.total - self.suspect

    @property
    def application(self) -> int:
        """Application probes' calls at once (of the healthy lane's)."""
        return min(max(1, self.total // APPLICATION_DIVISOR), self.healthy)

    def connections(self, max_client_requests: int) -> tuple[int, int]:
        """Connections the healthy and the suspect lane need so that
        libvirtd's per-connection limit never holds a call back."""
        return (math.ceil(self.healthy / max_client_requests),
                math.ceil(self.suspect / max_client_requests))

    def describe(self, max_workers: int) -> str:
        return ('%d agent calls at once of libvirtd\'s %d workers (%d for '
                'guests that answer, %d for guests that may be hung)'
                % (self.total, max_workers, self.healthy, self.suspect))
