"""A fleet judging two guests by their kernel heartbeat and their agent,
driven tick by tick on fake clocks (tests/unit/test_heartbeat*.py)."""

import math

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
from masakari_introspect.core.actions import SampleGuests
from masakari_introspect.core.actions import SampleLater
from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.tracker import Policy
from tests.unit.fakes import A, B, FakeClock, domain, make_fleet

INTERVAL = 2.0
READ, NOT_BACK = 'read', 'not back'    # a tick's vCPU call (Bed.tick)
PERIOD = 1


def live_heartbeat():
    """A heartbeat made live by two samples: monotonic 100 and 101, wall
    1000 and 1001, stamps 1000 and 1001, period 1."""
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, PERIOD)
    beat.sample(101.0, 1001.0, 1001, PERIOD)
    return beat


class Bed:
    """A fleet judging guests A and B by heartbeat; both answer their agent
    and send their heartbeat until told otherwise."""

    def __init__(self, kernel_heartbeat=True, threshold=3,
                 agent_loss=AgentLoss.WARN, boot_grace=0, interval=INTERVAL,
                 period=PERIOD):
        self.clock = FakeClock()
        self.wall = FakeClock(1.7e9)
        self.interval = interval
        self.policy = Policy(failure_threshold=threshold,
                             boot_grace_period=boot_grace,
                             probe_interval=interval,
                             kernel_heartbeat=kernel_heartbeat,
                             agent_loss=agent_loss)
        self.fleet = make_fleet(self.policy, self.clock, self.wall)
        self.actions = []
        self.stamps = {A: None, B: None}     # None: live (wall clock)
        # Live guests beating as QEMU asks: (first answer, wall clock; the
        # answer's lag after each period), instead of every instant.
        self.beats = {}
        self.read_delay = 0.0    # the stamps are read this long after asked
        self.later = []          # SampleLater moments not handled yet
        self.period = {A: period, B: period}
        self.hidden = set()                  # balloon fields missing
        self.work = {A: 0, B: 0}
        self.silent = set()                  # agents that do not answer
        self.closed = set()                  # agents whose port is closed
        self.starved = set()                 # waiting for a host CPU
        self.answers = {}                    # an agent's outcome, forced
        self.stuck = set()                   # probes that never come back
        self.vcpu = {A: (0, 0), B: (0, 0)}   # (run time, delay), ns
        self._spent_at = self.clock()        # vcpu counted up to then
        self.do(self.fleet.listed([domain(A, 'vm-a', domain_id=1),
                                   domain(B, 'vm-b', domain_id=2)]))
        self.run(3)

    def do(self, actions):
        self.actions += actions
        self.later += [a.at for a in actions if isinstance(a, SampleLater)]
        return actions

    def asked(self, kind=SampleLater):
        """The late heartbeats' samples asked so far (or ``SampleGuests``)."""
        return [a for a in self.actions if isinstance(a, kind)]

    def wait(self, seconds):
        """``seconds`` pass without a tick; the late heartbeats' samples
        due meanwhile are asked and taken at their moment."""
        end = self.clock() + seconds
        while self.later and min(self.later) <= end:
            at = min(self.later)
            self.later.remove(at)
            step = max(at - self.clock(), 0.0)
            self.clock.advance(step)
            self.wall.advance(step)
            self.take(self.do(self.fleet.recheck()))
        step = max(end - self.clock(), 0.0)
        self.clock.advance(step)
        self.wall.advance(step)

    def take(self, actions):
        """Answer the ``SampleGuests`` among ``actions`` now (with the
        vCPU figures as of now)."""
        for ask in [a for a in actions if isinstance(a, SampleGuests)]:
            found = [a for a in self.sample() if a.uuid in ask.uuids]
            self.do(self.fleet.guests_sampled(ask.uuids, found,
                                              self.vcpus_now()))

    def vcpus_now(self):
        """The vCPU figures as of now: those of the last tick, plus the
        time spent since (not kept: the next tick counts it)."""
        saved = dict(self.vcpu), self._spent_at
        self.spend(self.clock() - self._spent_at)
        found = self.vcpus()
        self.vcpu, self._spent_at = saved
        return found

    def reports(self, uuid=A):
        return [a.notification for a in self.actions
                if isinstance(a, Report)
                and a.notification.instance_uuid == uuid]

    def probes(self, uuid=A):
        return [a for a in self.actions
                if isinstance(a, Probe) and a.uuid == uuid]

    def stamp(self, uuid):
        if uuid in self.hidden:
            return None
        frozen = self.stamps[uuid]
        if frozen is not None:
            return frozen
        read = self.wall() + self.read_delay
        if uuid not in self.beats:
            return int(read)
        first, lag = self.beats[uuid]
        step = self.period[uuid] + lag
        return math.floor(first + math.floor((read - first) / step) * step)

    def beat(self, uuid, lag, first=None):
        """``uuid`` answers QEMU ``lag`` s after each period, first at the
        wall clock ``first`` (default: 0.999 s past the current second, the
        stamp's worst case)."""
        self.beats[uuid] = (math.floor(self.wall()) + 0.999
                            if first is None else first, lag)

    def sample(self):
        return [Activity(u, self.work[u], 0, heartbeat=self.stamp(u),
                         heartbeat_period=self.period[u])
                for u in (A, B)]

    def vcpus(self):
        """The vCPU call's answer: one vCPU each."""
        return {u: (self.vcpu[u],) for u in (A, B)}

    def spend(self, seconds=INTERVAL):
        """``seconds`` pass on the vCPUs: a starved one waits 90 % and
        runs 2 %, the others run 30 % and wait 1 %."""
        self._spent_at = self.clock()
        for uuid, (ran, waited) in self.vcpu.items():
            share = (0.02, 0.9) if uuid in self.starved else (0.3, 0.01)
            self.vcpu[uuid] = (ran + int(share[0] * seconds * 1e9),
                               waited + int(share[1] * seconds * 1e9))

    def kill_kernel(self, uuid=A):
        self.stamps[uuid] = int(self.wall())
        self.silent.add(uuid)

    def tick(self, seconds=None, vcpus=READ):
        """One tick, ``seconds`` (default: the interval) after now; the
        late heartbeats' samples due before it are taken first. The vCPU
        call's answer: read (:data:`READ`), ``None`` (the call failed), a
        dict of figures, or :data:`NOT_BACK` (no answer this interval)."""
        seconds = self.interval if seconds is None else seconds
        self.wait(seconds)
        self.spend(seconds)
        sent = self.do(self.fleet.tick())
        if vcpus is not NOT_BACK:
            self.do(self.fleet.vcpus_sampled(
                self.vcpus() if vcpus is READ else vcpus))
        self.do(self.fleet.sampled(self.sample()))
        self.answer(sent)
        if self.stuck:
            self.do(self.fleet.overdue())

    def answer(self, actions):
        for probe in [a for a in actions if isinstance(a, Probe)]:
            if probe.uuid in self.stuck:    # runs in libvirt, never back
                self.do(self.fleet.started(probe.uuid, probe.token))
                continue
            outcome = self.answers.get(probe.uuid) or (
                Outcome.DISCONNECTED if probe.uuid in self.closed
                else Outcome.MISS if probe.uuid in self.silent
                else Outcome.OK)
            self.do(self.fleet.result(ProbeResult(probe.uuid, outcome),
                                      probe.token))

    def event(self, uuid, kind, detail=''):
        self.answer(self.do(self.fleet.event(
            DomainEvent(uuid, 'vm', kind, detail))))

    def state(self, uuid=A):
        return self.fleet.watched[uuid].state

    def run(self, intervals):
        """``intervals`` probe intervals, one tick each."""
        for _ in range(intervals):
            self.tick()

    def reasons(self, uuid=A):
        return [report.reason for report in self.reports(uuid)]

    def maintenance(self, on, uuid=A):
        self.do(self.fleet.set_maintenance(uuid, on)[1])

    def reboot_after_a_missed_beat(self, after, wall_step=0.0):
        """Guest A's old kernel beats ``after`` seconds past the last tick,
        then the host's clock steps by ``wall_step`` and A reboots (its
        REBOOTED event): the new kernel sends no stamp and no agent yet."""
        self.clock.advance(after)
        self.wall.advance(after)
        self.stamps[A] = int(self.wall())   # the old kernel's last beat
        self.closed.add(A)                  # no agent until the new one
        self.wall.advance(wall_step)
        self.event(A, EventKind.REBOOTED)

    def lose_agent(self, uuid=A, reason='channel'):
        """The agent's port closes; the kernel lives on."""
        self.closed.add(uuid)
        self.event(uuid, EventKind.AGENT_DISCONNECTED, reason)
