"""Starved is not dead: a guest whose vCPU waited for a host CPU more than
half of a span between two vCPU samples while it ran less than a tenth of
it is starved. Its misses do not count and its heartbeat does not go stale,
for at most ``starvation_grace`` seconds per episode. Pure; clocks passed
in.

The samples come from a call of their own each interval (the vCPU
threads' scheduler statistics, read without waiting for QEMU: see
``virt/schedstat.py``), not from the bulk statistics call: a starved
guest's QEMU answers the bulk call's QEMU queries late, and starvation
evidence that comes after the failure window is no use.
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# Per vCPU: (run time, wait for a host CPU), ns.
VcpuTimes = tuple[tuple[int, int], ...]

WAITED = 0.5     # of the span, at least, waiting for a host CPU
RAN = 0.1        # of the span, at most, running
# Consecutive spans not starved that end an episode: a starved vCPU that
# gets a burst of CPU for one span is still on an overcommitted host.
CALM = 2


class Starvation:
    """One guest's vCPU run delay, sample to sample."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.intervals = 0                 # starved spans seen
        self.since: float | None = None    # this episode began
        self.starved = False               # in the last span
        self._calm = 0                     # spans not starved, in a row
        self._last: tuple[float, VcpuTimes] | None = None

    def sample(self, now: float, vcpus: VcpuTimes, name: str, uuid: str
               ) -> None:
        """The guest's vCPU figures read at ``now`` (() when not read:
        the next span starts from the next reading)."""
        last, self._last = self._last, (now, vcpus) if vcpus else None
        if last is None or not vcpus or len(vcpus) != len(last[1]):
            self.starved = False
            return
        span = now - last[0]
        starved = span > 0 and any(
            (delay - delay0) / 1e9 > WAITED * span and
            (time - time0) / 1e9 < RAN * span
            for (time, delay), (time0, delay0) in zip(vcpus, last[1],
                                                      strict=True))
        self.starved = starved
        if not starved:
            self._calm += 1
            if self.since is not None and self._calm >= CALM:
                LOG.info('Instance %s (%s) is no longer starved of CPU',
                         name, uuid)
                self.since = None
            return
        self._calm = 0
        self.intervals += 1
        if self.since is None:
            self.since = now - span
            steal = max((d - d0) / 1e9 for (_t, d), (_t0, d0)
                        in zip(vcpus, last[1], strict=True))
            LOG.warning('Instance %s (%s) is starved of CPU: its vCPU waited '
                        '%.1f s of %.1f s for a host CPU (steal time); its '
                        'misses do not count for up to %.0f s', name, uuid,
                        steal, span, self.grace)

    def shields(self, now: float) -> bool:
        """In an episode (starved, and not yet :data:`CALM` spans in a row
        without), within its grace."""
        return self.since is not None and now - self.since < self.grace
