from masakari_introspect.core import model as f
from masakari_introspect.core.model import DomainEvent, EventKind, Phase, Outcome, ProbeResult
from tests.unit.fakes import A, B, domain, make_fleet
from tests.unit.test_heartbeat import Bed


def test_balloon_unloaded_in_maintenance_then_off():
    bed = Bed()
    bed.do(bed.fleet.set_maintenance(A, True)[1])
    bed.stamps[A] = int(bed.wall())     # operator unloads the driver; agent fine
    for _ in range(5):
        bed.tick()
    bed.do(bed.fleet.set_maintenance(A, False)[1])
    for _ in range(5):
        bed.tick()
    assert [r.reason for r in bed.reports()] == []


def test_agent_lost_then_monitor_restart():
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    assert bed.state().phase is Phase.AGENT_LOST
    for _ in range(3):
        bed.tick()
    records = bed.fleet.persisted().records
    fleet = make_fleet(bed.policy, bed.clock, bed.wall, remembered=records)
    bed.fleet = fleet
    bed.do(fleet.listed([domain(A, 'vm-a', domain_id=1, connected=False),
                         domain(B, 'vm-b', domain_id=2)]))
    for _ in range(20):
        bed.tick()
    assert [r.reason for r in bed.reports()] == []


def test_agent_lost_then_agent_hangs_after_reconnect():
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(3):
        bed.tick()
    bed.closed.discard(A)
    bed.silent.add(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    for _ in range(10):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']


def test_agent_lost_then_kernel_dies():
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(3):
        bed.tick()
    bed.kill_kernel()
    for _ in range(4):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['kernel_hung']


def test_agent_hung_heartbeat_live_idle():
    bed = Bed()
    bed.silent.add(A)
    for _ in range(8):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']


def test_balloon_unloaded_then_agent_hangs():
    bed = Bed()
    bed.stamps[A] = int(bed.wall())
    for _ in range(4):
        bed.tick()
    bed.silent.add(A)
    for _ in range(8):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']


def test_job_hides_fields_kernel_dies_agent_misses():
    bed = Bed(threshold=3)
    bed.hidden.add(A)
    bed.kill_kernel()
    for _ in range(10):
        bed.tick()
    rs = [r.reason for r in bed.reports()]
    assert len(rs) == 1


def test_wall_step_back_and_forward_no_false_stale():
    bed = Bed()
    for step in (-30, 45, -1.5, 3600):
        bed.wall.advance(step)
        for _ in range(4):
            bed.tick()
    assert bed.reports() == [] and bed.reports(B) == []


def test_wall_step_during_kernel_death():
    bed = Bed()
    bed.kill_kernel()
    bed.tick()
    bed.wall.advance(-100)
    for _ in range(10):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive'] or \
        [r.reason for r in bed.reports()] == ['kernel_hung']


def test_samples_stop_coming():
    bed = Bed()
    bed.kill_kernel()
    for _ in range(10):
        bed.clock.advance(2); bed.wall.advance(2)
        bed.answer(bed.do(bed.fleet.tick()))
    assert len(bed.reports()) == 1


def test_starvation_longer_than_grace_idle_live():
    bed = Bed()
    bed.starved.add(A)
    bed.stamps[A] = int(bed.wall())   # starved kernel can't beat
    bed.silent.add(A)
    n = 0
    while not bed.reports() and n < 200:
        bed.tick(); n += 1
    print('reported after', n * 2, [r.reason for r in bed.reports()])
    assert n * 2 >= bed.policy.starvation_grace


def test_kdump_then_new_qemu():
    bed = Bed()
    bed.event(A, EventKind.CRASH_LOADED)
    bed.kill_kernel()
    for _ in range(5):
        bed.tick()
    bed.stamps[A] = None
    bed.silent.discard(A)
    bed.answer(bed.do(bed.fleet.event(DomainEvent(A, 'vm', EventKind.STARTED, '', 7))))
    for _ in range(400):
        bed.tick()
    assert bed.reports() == []


def test_agent_lost_then_reboot():
    bed = Bed()
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    for _ in range(3):
        bed.tick()
    bed.event(A, EventKind.REBOOTED)
    bed.closed.discard(A)
    bed.answer(bed.do(bed.fleet.event(DomainEvent(A, 'vm', EventKind.AGENT_CONNECTED, 'connected'))))
    for _ in range(10):
        bed.tick()
    assert bed.reports() == []
    assert bed.state().phase is Phase.HEALTHY
