"""The storm limit ([recovery] max_recoveries per window): monotonic within a
process, wall-clock stamps clamped when read back, its hold kept across a
restart."""

from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.model import Outcome
from masakari_introspect.runtime.store import StateStore
from tests.unit.fakes import B, FakeClock, domain
from tests.unit.fleet_bed import Bed, idle

WINDOW = 600


def limited_bed():
    bed = Bed(max_recoveries=1, recovery_window=WINDOW)
    bed.listed(domain(B, domain_id=2))
    return bed


def episode(bed):
    """B answers once, then hangs until it is judged failed."""
    bed.tick(idle(B))
    bed.answer(B)
    hung(bed, 4)


def hung(bed, ticks):
    for _ in range(ticks):
        bed.tick(idle(B))
        bed.time_out(B)


def test_a_wall_clock_step_back_does_not_lengthen_the_window():
    bed = limited_bed()
    episode(bed)
    assert len(bed.reports()) == 1
    bed.wall.advance(-3600)             # the wall clock steps back an hour
    episode(bed)
    assert len(bed.reports()) == 1
    assert bed.state(B)['recovery_limited'] is True
    hung(bed, WINDOW // 10)             # the window passes (monotonic)
    assert len(bed.reports()) == 2


def test_a_wall_clock_step_forward_does_not_shorten_the_window():
    bed = limited_bed()
    episode(bed)
    bed.wall.advance(3600)
    episode(bed)
    assert len(bed.reports()) == 1      # held: only 100 s have passed
    assert bed.state(B)['recovery_limited'] is True


def test_a_report_time_from_the_future_counts_as_now_after_a_restart():
    bed = Bed(max_recoveries=1, recovery_window=WINDOW, remembered={
        B: Remembered(2, True, False, reports=(1.7e9 + 3600,))})
    bed.listed(domain(B, domain_id=2))
    episode(bed)
    assert bed.reports() == []          # within the window
    hung(bed, WINDOW // 10)
    assert len(bed.reports()) == 1      # not an hour later


def restarted(bed, tmp_path, downtime=30.0):
    """The service restarts: state saved and loaded, a new monotonic
    clock, the wall clock goes on."""
    store = StateStore(tmp_path / 'instances.json')
    store.save(bed.fleet.records())
    after = Bed(max_recoveries=1, recovery_window=WINDOW,
                remembered=store.load(), clock=FakeClock(100.0),
                wall=FakeClock(bed.wall.now + downtime))
    after.listed(domain(B, domain_id=2))
    return after


def test_a_held_report_is_sent_when_the_window_allows_after_a_restart(
        tmp_path):
    bed = limited_bed()
    episode(bed)
    episode(bed)
    assert len(bed.reports()) == 1
    assert bed.fleet.records()[B].limited is True
    after = restarted(bed, tmp_path)
    assert after.state(B)['recovery_limited'] is True
    hung(after, 20)
    assert after.reports() == []        # the window is not over yet
    hung(after, WINDOW // 10)
    [report] = after.reports()
    assert report.instance_uuid == B
    assert after.state(B)['recovery_limited'] is False


def test_a_held_report_is_dropped_when_the_guest_answers_after_a_restart(
        tmp_path):
    bed = limited_bed()
    episode(bed)
    episode(bed)
    after = restarted(bed, tmp_path)
    for _ in range(WINDOW // 10 + 5):
        after.tick(idle(B))
        if after.fleet.watched[B].token is not None:
            after.answer(B, Outcome.OK)
    assert after.state(B)['state'] == 'healthy'
    assert after.reports() == []
    assert after.fleet.records()[B].limited is False


def test_a_held_report_is_void_for_a_new_qemu_process(tmp_path):
    bed = limited_bed()
    episode(bed)
    episode(bed)
    store = StateStore(tmp_path / 'instances.json')
    store.save(bed.fleet.records())
    after = Bed(max_recoveries=1, recovery_window=WINDOW)
    after.fleet.remembered = store.load()
    after.listed(domain(B, domain_id=9))     # restarted meanwhile
    assert after.state(B)['recovery_limited'] is False
