"""A fleet driven synchronously on fake clocks, and the actions it
returned (tests/unit/test_fleet*.py, test_storm_limit.py)."""

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.tracker import Policy
from masakari_introspect.ops.snapshot import encode_instance
from tests.unit.fakes import A, B, FakeClock, domain, make_fleet

INTERVAL = 10.0
PAUSES = {p.value for p in PauseReason}


class Bed:
    """A fleet with clocks, and the actions it returned, by type."""

    def __init__(self, threshold=3, grace=0, activity_check=True,
                 never=False, remembered=None, job_grace_max=600,
                 clock=None, wall=None, **settings):
        self.clock = clock or FakeClock()
        self.wall = wall or FakeClock(1.7e9)
        self.policy = Policy(failure_threshold=threshold,
                             boot_grace_period=grace,
                             report_agent_never_answered=never,
                             probe_interval=INTERVAL,
                             activity_check=activity_check,
                             job_grace_max=job_grace_max)
        self.fleet = make_fleet(self.policy, self.clock, self.wall,
                                remembered=remembered, **settings)
        self.actions = []

    def do(self, actions):
        self.actions += actions
        return actions

    def of(self, kind):
        return [a for a in self.actions if isinstance(a, kind)]

    def reports(self, uuid=None):
        return [a.notification for a in self.of(Report)
                if uuid is None or a.notification.instance_uuid == uuid]

    def probes(self, uuid):
        return [a for a in self.of(Probe) if a.uuid == uuid]

    def listed(self, *domains):
        return self.do(self.fleet.listed(list(domains)))

    def tick(self, sample=None):
        """One interval passes; then the statistics sample arrives."""
        self.clock.advance(INTERVAL)
        self.wall.advance(INTERVAL)
        actions = self.do(self.fleet.tick())
        if sample is not None:
            actions += self.do(self.fleet.sampled(sample))
        return actions

    def answer(self, uuid, outcome=Outcome.OK, detail=''):
        probe = self.probes(uuid)[-1]
        return self.do(self.fleet.result(
            ProbeResult(uuid, outcome, detail), probe.token))

    def event(self, uuid, kind, detail='', domain_id=-1):
        pause = PauseReason(detail) if detail in PAUSES \
            else PauseReason.NONE
        return self.do(self.fleet.event(
            DomainEvent(uuid, 'vm', kind, detail, domain_id, pause)))

    def time_out(self, *uuids):
        """Probes sent on the healthy lane to hung guests come back as
        timeouts; those on the suspect lane stay out."""
        for uuid in uuids:
            probes = self.probes(uuid)
            out = self.fleet.watched.get(uuid)
            if probes and out is not None and out.token == probes[-1].token \
                    and not probes[-1].suspect:
                self.answer(uuid, Outcome.MISS, 'timeout')

    def maintenance(self, instance, on):
        return self.do(self.fleet.set_maintenance(instance, on)[1])

    def idle_intervals(self, intervals, guests=(A, B), answering=()):
        """``intervals`` intervals in which ``guests`` do no work and the
        agents of ``answering`` answer."""
        for _ in range(intervals):
            self.tick(idle(*guests))
            for uuid in answering:
                self.answer(uuid)

    def without_agent(self, uuid, intervals, disk=0, step=0):
        """``uuid``'s agent is not connected for ``intervals`` intervals
        while the guest writes ``step`` disk requests in each; the disk
        counter at the end."""
        for _ in range(intervals):
            disk += step
            self.tick(idle(uuid, disk=disk))
            if self.fleet.watched[uuid].token is not None:
                self.answer(uuid, Outcome.DISCONNECTED, 'not connected')
        return disk

    def state(self, uuid):
        return next(encode_instance(i) for i in self.fleet.snapshot()
                    if i.uuid == uuid)


def idle(*uuids, disk=0, sent=0):
    return [Activity(u, disk, sent) for u in uuids]


def one_guest(**policy):
    """B listed, its agent answered its first probe."""
    bed = Bed(**policy)
    bed.listed(domain(B))
    bed.tick(idle(B))
    bed.answer(B)
    return bed


def two_guests():
    """A and B listed, each answered its first probe."""
    bed = Bed()
    bed.listed(domain(A, 'vm-a'), domain(B, 'vm-b', domain_id=2))
    bed.tick(idle(A, B))
    bed.answer(A)
    bed.answer(B)
    return bed


def hang(bed, uuid, misses, others=(A, B), **activity):
    """``uuid`` stops answering: the probe sent at the next tick times out,
    later ones stay out (libvirt's re-synchronisation with a hung agent);
    each interval without an answer is missed; the others answer."""
    for _ in range(misses + 1):
        sample = [Activity(u, 0, 0) for u in others if u != uuid]
        sample += idle(uuid, **activity) if activity else idle(uuid)
        bed.tick(sample)
        bed.time_out(uuid)
        for other in others:
            if other != uuid and bed.probes(other):
                bed.answer(other)
