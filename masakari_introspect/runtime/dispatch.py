"""Sending probes out: the healthy and suspect probe lanes.

The monitor hands every probe the fleet asks for to :class:`Dispatcher`,
which queues it on the probe lane of its kind: guests that may be hung hold
a probe for seconds, so they have their own lane and their own prober (their
own way to the hypervisor), and never delay the probes of healthy guests.
Each call gets a deadline on an
:class:`~masakari_introspect.runtime.scheduler.Alarm`, so that a call stuck
inside libvirt is noticed without waiting for the next tick. What a probe
says goes back through the callbacks the monitor passes in; the dispatcher
keeps no state of its own.
"""

import time
from collections.abc import Callable

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.runtime.hypervisor import Prober
from masakari_introspect.runtime.lanes import Lane
from masakari_introspect.runtime.scheduler import Alarm


class Dispatcher:
    """Runs each probe on its lane; ``started`` when it leaves the queue,
    ``finished`` with its result, ``overdue`` when a call passed
    ``stuck_after`` seconds inside libvirt."""

    def __init__(self, *, timeout: int, stuck_after: float, prober: Prober,
                 suspect_prober: Prober | None, lane_size: int,
                 suspect_lane_size: int, app_slots: int,
                 started: Callable[[str, int], None],
                 finished: Callable[[ProbeResult, int], None],
                 overdue: Callable[[], None]) -> None:
        self._timeout = timeout
        self._stuck_after = stuck_after
        self._started = started
        self._finished = finished
        # Application probes' calls are spare jobs of the healthy lane.
        self.healthy = Lane('probe-healthy', lane_size, spare=app_slots)
        self.suspect = Lane('probe-suspect', suspect_lane_size)
        self._probers: dict[bool, Prober] = {
            False: prober, True: suspect_prober or prober}
        # A call still inside libvirt after the timeout plus STUCK_AFTER is
        # its guest's miss: the fleet hears of it when it is due.
        self._stuck = Alarm('stuck-calls', overdue)

    def dispatch(self, probe: Probe) -> None:
        prober, timeout = self._probers[probe.suspect], self._timeout
        stuck_after = self._stuck_after

        def run() -> None:
            self._started(probe.uuid, probe.token)
            self._stuck.set(probe.token, time.monotonic() + stuck_after)
            try:
                result = prober.ping(probe.uuid, timeout, probe.osinfo)
            finally:
                self._stuck.clear(probe.token)
            self._finished(result, probe.token)

        lane = self.suspect if probe.suspect else self.healthy
        lane.submit(run, key=probe.uuid, priority=probe.priority)

    def drop(self, uuid: str) -> None:
        """Drop the queued probe of ``uuid`` from both lanes."""
        for lane in (self.healthy, self.suspect):
            lane.drop(uuid)

    def calls(self) -> dict[str, tuple[int, int]]:
        """Agent calls in flight and queued, per lane (any thread);
        application probes' calls apart from the healthy lane's."""
        spare = self.healthy.spares
        return {'healthy': (self.healthy.busy - spare[0],
                            self.healthy.backlog),
                'suspect': (self.suspect.busy, self.suspect.backlog),
                'application': spare}

    def stop_watching(self) -> None:
        """No deadlines any more: a stuck call is no longer reported."""
        self._stuck.close()
