"""The heartbeat's reset, first-stamp and ageing rules against clock steps,
period changes and late or early events (tests/unit/heartbeat_bed.py)."""

from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from tests.unit.fakes import A
from tests.unit.heartbeat_bed import Bed


def test_a_step_back_under_a_second_around_a_reboot_is_no_new_beat():
    # The old kernel beats at x.6 (stamp x); the host's clock steps back
    # 0.8 s (under the step that relearns) and the guest reboots: the wall
    # clock at the event reads x - 0.2, so the old stamp looked later than
    # the reset, the heartbeat live with the old kernel's beat, and the
    # booting guest was reported kernel_hung 4 s later.
    bed = Bed(boot_grace=30)
    bed.clock.advance(0.6)
    bed.wall.advance(0.6)
    bed.stamps[A] = int(bed.wall())   # the old kernel's last beat
    bed.closed.add(A)                 # no agent until the new one starts
    bed.wall.advance(-0.8)
    bed.event(A, EventKind.REBOOTED)
    bed.run(6)                        # the new kernel boots for 12 s
    assert bed.reports() == []
    assert bed.state().phase is Phase.GRACE


def test_a_shorter_period_keeps_the_longer_one_until_the_stamp_moves():
    # Period 10 (Nova's), the last beat 9 s ago; the period is set to 2:
    # QEMU asks next 2 s after the change, so the stamp is 11 s old by
    # then, still within the old period's 21 s, not stale after 5 s.
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 990, 10)
    beat.sample(102.0, 1002.0, 1000, 10)
    assert beat.live
    assert not beat.sample(109.5, 1009.5, 1000, 2)
    assert not beat.sample(111.5, 1011.5, 1000, 2)
    beat.sample(113.5, 1013.5, 1011, 2)                # the first 2 s beat
    assert beat.live and not beat.stale
    # From then on the shorter period holds: it dies, stale after 5 s.
    assert not beat.sample(115.5, 1015.5, 1011, 2)
    assert beat.sample(117.5, 1017.5, 1011, 2)
    assert beat.stale_since == 116.0


def test_statistics_turned_off_and_on_again_relearn_the_heartbeat():
    # The period goes to 0: QEMU stops asking, the stamp stops. When it is
    # set again QEMU asks one period later; the stamp in hand is a minute
    # old then, and is no dead kernel: the heartbeat is learned again.
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, 2)
    beat.sample(102.0, 1002.0, 1002, 2)
    assert beat.live
    for now in range(104, 164, 2):
        assert not beat.sample(now, now + 900.0, 1002, 0)
    assert not beat.sample(164.0, 1064.0, 1002, 2)
    assert not beat.live and not beat.stale
    beat.sample(166.0, 1066.0, 1065, 2)
    assert beat.live
