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
# An episode ends after CALM spans in a row that are not starved and in
# which, taken together, no vCPU waited more than QUIET of their length
# while running less than RAN of it. The wait a span shows is lumpy:
# measured on the bed, a starved vCPU that ran nothing showed 0.00-4.27 s
# in 2 s spans, so one span, or two, with little wait do not show that the
# host has CPU for it again. A healthy idle guest waits about 0.5 % of a
# span, one on a busy host that is not overcommitted a few per cent: a
# quarter keeps an episode from outliving the starvation on such a host.
CALM = 3
QUIET = 0.25


class Starvation:
    """One guest's vCPU run delay, sample to sample."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.intervals = 0                 # starved spans seen
        self.since: float | None = None    # this episode began
        self.starved = False               # in the last span
        # Spans not starved since the last starved one (at most CALM):
        # (length, per vCPU (ran, waited)), s.
        self._calm: list[tuple[float, tuple[tuple[float, float], ...]]] = []
        self._last: tuple[float, VcpuTimes] | None = None
        # Samples in a row without its figures (the call failed or is not
        # back, the guest left out): at CALM, no evidence that it is still
        # starved.
        self._blind = 0

    def sample(self, now: float, vcpus: VcpuTimes, name: str, uuid: str
               ) -> None:
        """The guest's vCPU figures read at ``now`` (() when not read:
        the next span starts from the next reading)."""
        last, self._last = self._last, (now, vcpus) if vcpus else None
        self._blind = 0 if vcpus else self._blind + 1
        if last is None or not vcpus or len(vcpus) != len(last[1]) or \
                now > last[0] and _went_back(vcpus, last[1]):
            if last is not None and vcpus:
                # vCPUs added or removed, or figures that start again (a
                # new QEMU process or vCPU thread): no span, and the quiet
                # ones before say nothing of the new figures.
                self._calm = []
            self.starved = False
            return
        span = now - last[0]
        if span <= 0:
            self.starved = False
            return
        grew = tuple(((time - time0) / 1e9, (delay - delay0) / 1e9)
                     for (time, delay), (time0, delay0)
                     in zip(vcpus, last[1], strict=True))
        starved = _wanting(span, grew, WAITED)
        self.starved = starved
        if not starved:
            self._calm = (self._calm + [(span, grew)])[-CALM:]
            if self.since is not None and self._quiet():
                LOG.info('Instance %s (%s) is no longer starved of CPU',
                         name, uuid)
                self.since = None
            return
        self._calm = []
        self.intervals += 1
        if self.since is None:
            self.since = now - span
            steal = max(waited for _ran, waited in grew)
            LOG.warning('Instance %s (%s) is starved of CPU: its vCPU or '
                        'QEMU main thread waited %.1f s of %.1f s for a '
                        'host CPU (steal time); %s',
                        name, uuid, steal, span,
                        'its misses do not count for up to %.0f s'
                        % self.grace if self.grace > 0 else
                        'it is judged as usual (starvation_grace is 0)')

    def peek(self, now: float, vcpus: VcpuTimes) -> bool:
        """The figures read at ``now`` show the guest starved since the
        last reading (a span shorter than an interval, not taken: the next
        sample spans from the last reading as before). False without a
        basis (no figures, no last reading, figures that start again) or
        with ``starvation_grace`` 0: a missing figure cannot shield."""
        last = self._last
        if self.grace <= 0 or last is None or not vcpus or \
                len(vcpus) != len(last[1]) or now <= last[0] or \
                _went_back(vcpus, last[1]):
            return False
        grew = tuple(((time - time0) / 1e9, (delay - delay0) / 1e9)
                     for (time, delay), (time0, delay0)
                     in zip(vcpus, last[1], strict=True))
        return _wanting(now - last[0], grew, WAITED)

    def unanswered(self) -> None:
        """An interval passed without the guest's figures (the vCPU call
        asked at its start is not back): as a sample without them, but the
        figures, when they come, still span from the last ones."""
        self._blind += 1

    def _quiet(self) -> bool:
        """The last :data:`CALM` spans, together, show the vCPUs getting
        a host CPU when they want one."""
        if len(self._calm) < CALM:
            return False
        length = sum(span for span, _grew in self._calm)
        together = tuple(
            (sum(ran for ran, _w in each), sum(waited for _r, waited in each))
            for each in zip(*(grew for _span, grew in self._calm),
                            strict=True))
        return not _wanting(length, together, QUIET)

    def shields(self, now: float) -> bool:
        """In an episode (a starved span, and not yet :data:`CALM` quiet
        spans after it), within its grace, and its figures not missing
        for :data:`CALM` samples in a row: a failing vCPU call cannot
        shield a hang. The episode goes on (and its grace runs) while
        they are missing."""
        return self.since is not None and now - self.since < self.grace \
            and self._blind < CALM


def _went_back(vcpus: VcpuTimes, before: VcpuTimes) -> bool:
    """Some figure is lower than the one read before it: counted again
    from 0, not a span's growth."""
    return any(time < time0 or delay < delay0
               for (time, delay), (time0, delay0)
               in zip(vcpus, before, strict=True))


def _wanting(span: float, grew: tuple[tuple[float, float], ...],
             waited_share: float) -> bool:
    """Some vCPU waited more than ``waited_share`` of ``span`` for a host
    CPU while it ran less than :data:`RAN` of it."""
    return any(waited > waited_share * span and ran < RAN * span
               for ran, waited in grew)
