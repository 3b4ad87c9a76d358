"""A fleet judging two guests by their kernel heartbeat and their agent,
driven tick by tick on fake clocks (tests/unit/test_heartbeat*.py)."""

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.actions import Report
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
                 agent_loss=AgentLoss.WARN, boot_grace=0):
        self.clock = FakeClock()
        self.wall = FakeClock(1.7e9)
        self.policy = Policy(failure_threshold=threshold,
                             boot_grace_period=boot_grace,
                             probe_interval=INTERVAL,
                             kernel_heartbeat=kernel_heartbeat,
                             agent_loss=agent_loss)
        self.fleet = make_fleet(self.policy, self.clock, self.wall)
        self.actions = []
        self.stamps = {A: None, B: None}     # None: live (wall clock)
        self.period = {A: PERIOD, B: PERIOD}
        self.hidden = set()                  # balloon fields missing
        self.work = {A: 0, B: 0}
        self.silent = set()                  # agents that do not answer
        self.closed = set()                  # agents whose port is closed
        self.starved = set()                 # waiting for a host CPU
        self.vcpu = {A: (0, 0), B: (0, 0)}   # (run time, delay), ns
        self.do(self.fleet.listed([domain(A, 'vm-a', domain_id=1),
                                   domain(B, 'vm-b', domain_id=2)]))
        self.run(3)

    def do(self, actions):
        self.actions += actions
        return actions

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
        return int(self.wall()) if frozen is None else frozen

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
        for uuid, (ran, waited) in self.vcpu.items():
            share = (0.02, 0.9) if uuid in self.starved else (0.3, 0.01)
            self.vcpu[uuid] = (ran + int(share[0] * seconds * 1e9),
                               waited + int(share[1] * seconds * 1e9))

    def kill_kernel(self, uuid=A):
        self.stamps[uuid] = int(self.wall())
        self.silent.add(uuid)

    def tick(self, seconds=INTERVAL):
        self.clock.advance(seconds)
        self.wall.advance(seconds)
        self.spend(seconds)
        sent = self.do(self.fleet.tick())
        self.do(self.fleet.vcpus_sampled(self.vcpus()))
        self.do(self.fleet.sampled(self.sample()))
        self.answer(sent)

    def answer(self, actions):
        for probe in [a for a in actions if isinstance(a, Probe)]:
            outcome = Outcome.DISCONNECTED if probe.uuid in self.closed \
                else Outcome.MISS if probe.uuid in self.silent \
                else Outcome.OK
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
