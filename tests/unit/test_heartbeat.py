"""The kernel heartbeat (balloon.last-update) and the kernel_hung verdict."""

import dataclasses

from masakari_introspect.core import model as f
from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainEvent
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.model import Reason
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.tracker import Policy
from tests.unit.fakes import A, B, FakeClock, domain, make_fleet

INTERVAL = 2.0
PERIOD = 1


# -- the heartbeat alone -------------------------------------------------------


def test_a_first_stamp_is_learned_not_live():
    beat = Heartbeat()
    assert not beat.sample(100.0, 1000.0, 1000, PERIOD)
    assert not beat.live and beat.age() is None


def test_a_changed_stamp_is_live_and_an_unchanged_one_goes_stale_once():
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, PERIOD)
    beat.sample(101.0, 1001.0, 1001, PERIOD)
    assert beat.live and beat.age() == 0.0
    assert not beat.sample(103.0, 1003.0, 1001, PERIOD)   # age 2 < 3
    assert beat.sample(104.5, 1004.5, 1001, PERIOD)       # age 3.5
    assert beat.stale and beat.stale_since == 104.0
    assert not beat.sample(106.0, 1006.0, 1001, PERIOD)   # still stale
    assert beat.age() == 5.0
    beat.sample(107.0, 1007.0, 1007, PERIOD)              # back
    assert beat.live and not beat.stale


def test_stale_after_follows_the_period():
    assert stale_after(1) == 3.0
    assert stale_after(2) == 5.0
    assert stale_after(10) == 21.0


def test_a_sample_without_a_stamp_or_period_is_no_evidence():
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, PERIOD)
    beat.sample(101.0, 1001.0, 1001, PERIOD)
    assert not beat.sample(120.0, 1020.0, None, PERIOD)
    assert not beat.sample(121.0, 1021.0, 1001, 0)
    assert not beat.stale


def test_a_wall_clock_step_relearns_the_heartbeat():
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, PERIOD)
    beat.sample(101.0, 1001.0, 1001, PERIOD)
    # The wall clock jumps 30 s ahead: the old stamp looks 32 s old.
    assert not beat.sample(103.0, 1033.0, 1001, PERIOD)
    assert not beat.live and not beat.stale
    assert not beat.sample(108.0, 1038.0, 1001, PERIOD)
    beat.sample(109.0, 1039.0, 1039, PERIOD)
    assert beat.live and beat.age() == 0.0


def test_a_reset_makes_it_not_live_until_the_stamp_changes():
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, PERIOD)
    beat.sample(101.0, 1001.0, 1001, PERIOD)
    beat.reset()
    assert not beat.sample(110.0, 1010.0, 1001, PERIOD)
    assert not beat.live
    beat.sample(111.0, 1011.0, 1011, PERIOD)
    assert beat.live


# -- the fleet -------------------------------------------------------------------


class Bed:
    """A fleet judging guests A and B by heartbeat; both answer their agent
    and send their heartbeat until told otherwise."""

    def __init__(self, kernel_heartbeat=True, threshold=3,
                 agent_loss=AgentLoss.WARN):
        self.clock = FakeClock()
        self.wall = FakeClock(1.7e9)
        self.policy = Policy(failure_threshold=threshold,
                             boot_grace_period=0, probe_interval=INTERVAL,
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
        for _ in range(3):
            self.tick()

    def do(self, actions):
        self.actions += actions
        return actions

    def reports(self, uuid=A):
        return [a.notification for a in self.actions
                if isinstance(a, f.Report)
                and a.notification.instance_uuid == uuid]

    def probes(self, uuid=A):
        return [a for a in self.actions
                if isinstance(a, f.Probe) and a.uuid == uuid]

    def stamp(self, uuid):
        if uuid in self.hidden:
            return None
        frozen = self.stamps[uuid]
        return int(self.wall()) if frozen is None else frozen

    def sample(self):
        return [Activity(u, self.work[u], 0, heartbeat=self.stamp(u),
                         heartbeat_period=self.period[u],
                         vcpus=(self.vcpu[u],))
                for u in (A, B)]

    def kill_kernel(self, uuid=A):
        self.stamps[uuid] = int(self.wall())
        self.silent.add(uuid)

    def tick(self, seconds=INTERVAL):
        self.clock.advance(seconds)
        self.wall.advance(seconds)
        for uuid, (ran, waited) in self.vcpu.items():
            share = (0.02, 0.9) if uuid in self.starved else (0.3, 0.01)
            self.vcpu[uuid] = (ran + int(share[0] * seconds * 1e9),
                               waited + int(share[1] * seconds * 1e9))
        sent = self.do(self.fleet.tick())
        self.do(self.fleet.sampled(self.sample()))
        self.answer(sent)

    def answer(self, actions):
        for probe in [a for a in actions if isinstance(a, f.Probe)]:
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


def test_a_dead_kernel_is_reported_at_once_as_kernel_hung():
    bed = Bed(threshold=10)
    bed.kill_kernel()
    bed.tick()                      # age 2: not yet
    assert bed.reports() == []
    bed.tick()                      # age 4 >= 3: stale, no answer, no work
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'
    assert bed.state().reason is Reason.KERNEL_HUNG
    assert bed.state().misses < 10   # without waiting for the threshold
    assert bed.reports(B) == []


def test_no_agent_call_while_the_heartbeat_stays_stale():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert bed.reports()
    probes = len(bed.probes())
    for _ in range(10):
        bed.tick()
    assert len(bed.probes()) == probes
    assert len(bed.reports()) == 1


def test_the_guest_is_probed_again_when_the_heartbeat_comes_back():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    probes = len(bed.probes())
    bed.stamps[A] = None             # the kernel answers again
    bed.silent.discard(A)
    for _ in range(4):
        bed.tick()
    assert len(bed.probes()) > probes
    assert bed.state().phase is Phase.HEALTHY


def test_a_stale_heartbeat_of_a_guest_that_answers_is_not_a_dead_kernel():
    bed = Bed()
    bed.stamps[A] = int(bed.wall())   # balloon driver unloaded, agent fine
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_stale_heartbeat_of_a_guest_that_works_is_not_a_dead_kernel():
    bed = Bed(threshold=20)
    bed.kill_kernel()
    for _ in range(4):
        bed.work[A] += 5             # disk work after the heartbeat stopped
        bed.tick()
    assert [r for r in bed.reports() if r.reason == 'kernel_hung'] == []


def test_a_dead_kernel_in_maintenance_is_judged_afresh_after_it():
    # Not probed in maintenance: the stale heartbeat is no verdict there;
    # after it the heartbeat is learned again and the agent's window
    # judges the guest.
    bed = Bed()
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.kill_kernel()
    for _ in range(3):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().held is None
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    for _ in range(bed.policy.failure_threshold + 1):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'unresponsive'


def test_a_reboot_pausing_the_heartbeat_is_not_a_dead_kernel():
    bed = Bed()
    bed.event(A, EventKind.REBOOTED)
    bed.stamps[A] = int(bed.wall())   # the driver is not loaded yet
    for _ in range(4):
        bed.tick()
    bed.stamps[A] = None
    bed.tick()
    assert [r for r in bed.reports() if r.reason == 'kernel_hung'] == []


def test_a_pause_and_resume_do_not_make_the_heartbeat_stale():
    bed = Bed()
    bed.event(A, EventKind.PAUSED, 'user')
    bed.stamps[A] = int(bed.wall())
    for _ in range(5):
        bed.tick()
    bed.event(A, EventKind.RESUMED)
    bed.tick()
    assert bed.reports() == []


def test_a_wall_clock_step_is_not_a_dead_kernel():
    bed = Bed()
    bed.wall.advance(60)              # the host's clock steps ahead
    for _ in range(3):
        bed.tick()
    assert bed.reports() == []


def test_a_job_hiding_the_balloon_fields_is_no_evidence():
    bed = Bed()
    bed.hidden.add(A)
    bed.stamps[A] = int(bed.wall())
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []


def test_a_guest_without_statistics_is_judged_by_its_agent():
    bed = Bed()
    bed.period[A] = 0
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert bed.reports() == []
    for _ in range(4):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'unresponsive'


def test_with_the_heartbeat_off_a_dead_kernel_waits_for_the_window():
    bed = Bed(kernel_heartbeat=False)
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert bed.reports() == []
    for _ in range(4):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'unresponsive'


def test_status_shows_the_heartbeat_age():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    view = {s.uuid: s for s in bed.fleet.snapshot()}
    assert view[A].heartbeat_age == 2.0
    assert view[B].heartbeat_age == 0.0


# -- agent lost, kernel alive ---------------------------------------------------


def lose_agent(bed, uuid=A, reason='channel'):
    bed.closed.add(uuid)
    bed.event(uuid, EventKind.AGENT_DISCONNECTED, reason)


def test_a_lost_agent_with_a_live_kernel_is_warned_not_reported(caplog):
    bed = Bed()
    lose_agent(bed)
    for _ in range(30):              # a minute
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST
    [view] = [s for s in bed.fleet.snapshot() if s.uuid == A]
    assert view.label == 'agent lost, kernel alive'
    warnings = [r for r in caplog.records
                if 'agent gone, kernel alive' in r.getMessage()]
    assert len(warnings) == 1


def test_with_agent_loss_report_a_lost_agent_is_reported():
    bed = Bed(agent_loss=AgentLoss.REPORT)
    lose_agent(bed)
    for _ in range(6):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'disconnected'


def test_a_lost_agent_then_a_dead_kernel_is_kernel_hung():
    # (Over SHUTDOWN_SPAN later: no wait for a reset, as for a guest going
    # down; test_heartbeat_combined covers a kernel dying sooner.)
    bed = Bed()
    lose_agent(bed)
    for _ in range(20):
        bed.tick()
    assert bed.reports() == []
    bed.stamps[A] = int(bed.wall())
    bed.tick()
    bed.tick()
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'


def test_a_lost_agent_without_a_heartbeat_is_reported_as_today():
    bed = Bed()
    bed.period[A] = 0
    bed.fleet.watched[A].heartbeat.reset()
    lose_agent(bed)
    for _ in range(6):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'disconnected'


def test_a_closed_port_for_another_reason_is_not_a_lost_agent():
    bed = Bed()
    lose_agent(bed, reason='domain started')
    assert bed.state().phase is not Phase.AGENT_LOST


def test_a_hung_agent_with_a_live_kernel_is_still_unresponsive():
    bed = Bed()
    bed.silent.add(A)                # port open, no answer: no event
    for _ in range(6):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'unresponsive'


def test_a_lost_agent_that_comes_back_is_healthy():
    bed = Bed()
    lose_agent(bed)
    bed.tick()
    bed.closed.discard(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    for _ in range(2):
        bed.tick()
    assert bed.state().phase is Phase.HEALTHY
    assert bed.reports() == []


def test_a_reboot_after_a_lost_agent_is_judged_as_a_boot():
    bed = Bed()
    lose_agent(bed)
    bed.event(A, EventKind.REBOOTED)
    assert bed.state().phase is Phase.GRACE


def test_the_check_warns_of_a_lost_agent():
    from masakari_introspect.cmd import check
    from masakari_introspect.core.status import InstanceStatus
    assert check.KIND[Phase.AGENT_LOST] is check.Kind.LOST
    lost = InstanceStatus(A, 'vm-a', Phase.AGENT_LOST)
    assert check.kind(lost) is check.Kind.LOST


# -- kdump -------------------------------------------------------------------------


def crash_loaded(bed, timeout=60.0, uuid=A):
    bed.fleet.policy = bed.policy = dataclasses.replace(
        bed.policy, kdump_timeout=timeout)
    # Each instance follows a policy of its own (issue 20).
    bed.fleet.watched[uuid].state.policy = bed.policy
    bed.event(uuid, EventKind.CRASH_LOADED)


def test_crash_loaded_then_silence_is_crashed_after_the_timeout():
    bed = Bed()
    crash_loaded(bed)
    bed.silent.add(A)                       # dump written, then silence
    bed.stamps[A] = int(bed.wall())
    assert bed.state().phase is Phase.KDUMP
    for _ in range(29):                     # 58 s
        bed.tick()
    assert bed.reports() == []
    bed.tick()
    bed.tick()
    [report] = bed.reports()
    assert report.reason == 'crashed'


def test_a_guest_that_runs_on_after_crash_loaded_is_not_reported():
    bed = Bed()
    crash_loaded(bed)
    for _ in range(40):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY
    assert bed.fleet.watched[A].kdump_since is None


def test_a_reset_after_the_dump_and_a_live_heartbeat_end_the_wait():
    bed = Bed()
    crash_loaded(bed)
    bed.silent.add(A)
    bed.stamps[A] = int(bed.wall())
    for _ in range(5):
        bed.tick()
    bed.event(A, EventKind.REBOOTED)
    bed.silent.discard(A)
    bed.stamps[A] = None
    for _ in range(40):
        bed.tick()
    assert bed.reports() == []


def test_crash_loaded_is_its_own_event_kind():
    from masakari_introspect.virt import translate
    assert translate.lifecycle(translate.CRASHED, 1) is \
        EventKind.CRASH_LOADED
    assert translate.lifecycle(translate.CRASHED, 0) is EventKind.CRASHED


def test_crash_loaded_then_agent_killed_and_balloon_removed_is_crashed():
    bed = Bed()
    crash_loaded(bed)
    for _ in range(3):                      # runs on a while
        bed.tick()
    lose_agent(bed)
    bed.stamps[A] = int(bed.wall())         # balloon driver removed
    for _ in range(25):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.KDUMP
    for _ in range(3):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'crashed'



# -- starvation ----------------------------------------------------------------------


def starve(bed, grace=120.0, uuid=A):
    bed.fleet.policy = bed.policy = dataclasses.replace(
        bed.policy, starvation_grace=grace)
    bed.fleet.watched[uuid].starvation.grace = grace
    bed.starved.add(uuid)
    bed.silent.add(uuid)                    # its pings time out
    bed.stamps[uuid] = int(bed.wall())      # its heartbeat falls behind


def test_a_starved_guest_is_not_reported_within_the_grace(caplog):
    bed = Bed()
    starve(bed)
    for _ in range(30):                     # 60 s
        bed.tick()
    assert bed.reports() == []
    warnings = [r for r in caplog.records
                if 'starved of CPU: its vCPU waited' in r.getMessage()]
    assert len(warnings) == 1
    [view] = [v for v in bed.fleet.snapshot() if v.uuid == A]
    assert view.starved_intervals >= 29


def test_starvation_that_ends_leaves_a_healthy_guest():
    bed = Bed()
    starve(bed)
    for _ in range(10):
        bed.tick()
    bed.starved.discard(A)
    bed.silent.discard(A)
    bed.stamps[A] = None
    for _ in range(5):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY


def test_a_starved_guest_is_judged_after_the_grace():
    bed = Bed()
    starve(bed, grace=20.0)
    for _ in range(20):
        bed.tick()
    assert len(bed.reports()) == 1


def test_starvation_then_a_real_hang_is_reported():
    bed = Bed()
    starve(bed)
    for _ in range(5):
        bed.tick()
    bed.starved.discard(A)                  # CPU back; the kernel is dead
    for _ in range(5):
        bed.tick()
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'


def test_a_spinning_panicked_kernel_is_not_starved():
    bed = Bed()
    bed.kill_kernel()                       # runs its share: not starved
    bed.tick()
    bed.tick()
    [report] = bed.reports()
    assert report.reason == 'kernel_hung'


# -- which part died -------------------------------------------------------------------


def died(bed, uuid=A):
    return {v.uuid: v for v in bed.fleet.snapshot()}[uuid].died


def test_status_says_which_part_died():
    bed = Bed()
    assert died(bed) is None
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    assert died(bed) == 'kernel'
    lost = Bed()
    lose_agent(lost)
    lost.tick()
    assert died(lost) == 'userspace/agent'
    hung = Bed()
    hung.silent.add(A)
    hung.tick()
    hung.tick()
    assert died(hung) == 'userspace/agent'
    starved = Bed()
    starve(starved)
    starved.tick()
    starved.tick()
    assert died(starved) == 'none (starved)'


def test_the_json_status_carries_which_part_died():
    from masakari_introspect.ops import snapshot
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.tick()
    view = {v.uuid: v for v in bed.fleet.snapshot()}[A]
    doc = snapshot.encode_instance(view)
    assert doc['died'] == 'kernel'
    assert snapshot._decode_instance(doc).died == 'kernel'


def test_one_span_with_a_burst_of_cpu_does_not_end_the_episode():
    bed = Bed()
    starve(bed)
    for _ in range(5):
        bed.tick()
    bed.starved.discard(A)                  # one burst of CPU
    bed.tick()
    bed.starved.add(A)
    for _ in range(10):
        bed.tick()
    assert bed.reports() == []
