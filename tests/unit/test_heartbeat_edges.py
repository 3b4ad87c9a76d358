"""The heartbeat's reset, first-stamp and ageing rules against clock steps,
period changes and late or early events (tests/unit/heartbeat_bed.py)."""

from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Phase
from tests.unit.fakes import A
from tests.unit.heartbeat_bed import INTERVAL
from tests.unit.heartbeat_bed import PERIOD
from tests.unit.heartbeat_bed import live_heartbeat
from tests.unit.heartbeat_bed import Bed


def test_a_step_back_under_a_second_around_a_reboot_is_no_new_beat():
    # The old kernel beats at x.6 (stamp x); the host's clock steps back
    # 0.8 s (under the step that relearns) and the guest reboots: the wall
    # clock at the event reads x - 0.2, so the old stamp looked later than
    # the reset, the heartbeat live with the old kernel's beat, and the
    # booting guest was reported kernel_hung 4 s later.
    bed = Bed(boot_grace=30)
    bed.reboot_after_a_missed_beat(0.6, wall_step=-0.8)
    bed.run(6)                        # the new kernel boots for 12 s
    assert bed.reports() == []
    assert bed.state().phase is Phase.GRACE


def test_a_shorter_period_relearns_the_heartbeat():
    # Period 10 (Nova's), the last beat 9 s ago; the period is set to 2:
    # QEMU asks next 2 s after the change, so the stamp is 11 s old by
    # then: no dead kernel after 5 s.
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


def test_a_stamp_first_seen_with_a_shorter_period_is_not_aged_by_it():
    # Samples 30 s apart: the first one with period 2 sees a beat made
    # under period 10 (1020), 11 s old; the change came after it.
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 990, 10)
    beat.sample(130.0, 1030.0, 1020, 10)
    assert beat.live
    assert not beat.sample(160.0, 1060.0, 1049, 2)
    assert not beat.stale
    beat.sample(190.0, 1090.0, 1089, 2)
    assert beat.live and not beat.stale


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


def test_a_sample_asked_before_a_reboot_is_no_stamp_to_move_from():
    # The tick's sample reads the old kernel's stamp; the old kernel beats
    # once more and the guest reboots; the sample is handled after the
    # event. Taken as the stamp to move from, the old kernel's last beat
    # would be a change, the heartbeat live, and the booting guest
    # kernel_hung 3 s later.
    bed = Bed(boot_grace=30)
    bed.clock.advance(2)
    bed.wall.advance(2)
    sent = bed.do(bed.fleet.tick())
    sample = bed.sample()
    bed.answer(sent)
    bed.clock.advance(1.5)
    bed.wall.advance(1.5)
    bed.stamps[A] = int(bed.wall())   # the old kernel's last beat
    bed.closed.add(A)                 # no agent until the new one starts
    bed.event(A, EventKind.REBOOTED)
    bed.do(bed.fleet.sampled(sample))
    bed.run(6)                        # the new kernel boots for 12 s
    assert bed.reports() == []


def test_a_kernel_that_beats_once_after_maintenance_and_dies_is_kernel_hung():
    # The end of maintenance relearns the heartbeat; a stamp later than
    # that end is a beat after it: live at once, and stale in bound.
    bed = Bed(threshold=10)
    bed.maintenance(True)
    bed.run(3)
    bed.maintenance(False)
    bed.clock.advance(1.5)
    bed.wall.advance(1.5)
    bed.kill_kernel()
    beat = bed.wall()
    while not bed.reports() and bed.wall() - beat < 30:
        bed.tick()
    assert bed.reasons() == ['kernel_hung']
    assert bed.wall() - beat <= stale_after(PERIOD) + INTERVAL + 1


def test_a_stamp_of_the_resets_own_whole_second_is_no_new_beat():
    # Reset at wall 1002.0: a stamp of 1002 may be a beat at 1002.0, the
    # old kernel's; only a later whole second is surely after the reset.
    beat = live_heartbeat()
    beat.reset(102.0)
    assert not beat.sample(103.0, 1003.0, 1002, PERIOD)
    assert not beat.live
    assert not beat.sample(106.0, 1006.0, 1002, PERIOD)
    assert not beat.stale
    beat.sample(107.0, 1007.0, 1003, PERIOD)
    assert beat.live


def test_a_wall_clock_step_just_over_a_second_relearns_the_heartbeat():
    # The last beat at 1001.99 (stamp 1001); the clock steps 1.2 s ahead:
    # at 1002.9 the stamp looks 3.1 s old, more than 2 x 1 + 1.
    beat = live_heartbeat()
    assert not beat.sample(102.9, 1004.1, 1001, PERIOD)
    assert not beat.stale and not beat.live
    beat.sample(103.5, 1004.7, 1004, PERIOD)
    assert beat.live


def test_a_stamp_from_before_a_step_back_is_no_beat_after_a_later_reset():
    # The guest reboots (its last beat 1001); while the new kernel boots
    # the host's clock steps back 30 s, which a sample learns; then the
    # guest resets again. The old stamp 1001 is later than that reset's
    # wall clock (976) but older than it: no new kernel's beat.
    beat = live_heartbeat()
    beat.reset(101.5)
    beat.sample(103.0, 1003.0, 1001, PERIOD)
    beat.sample(105.0, 975.0, 1001, PERIOD)          # the step, learned
    beat.reset(106.0)                                # wall 976
    assert not beat.sample(108.0, 978.0, 1001, PERIOD)
    assert not beat.live
    assert not beat.sample(110.0, 980.0, 1001, PERIOD)
    beat.sample(112.0, 982.0, 981, PERIOD)           # the new kernel
    assert beat.live


def test_statistics_turned_off_after_a_reset_and_on_again_relearn_it():
    # The new kernel beats once after the reset (1005) and statistics are
    # turned off before any sample saw a stamp: that beat, later than the
    # reset, is a minute old when they are on again; no beat of a dead
    # kernel, QEMU only asks one period later.
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, 2)
    beat.sample(102.0, 1002.0, 1002, 2)
    beat.reset(103.0)
    for now in range(106, 172, 2):
        assert not beat.sample(now, now + 900.0, 1005, 0)
    assert not beat.sample(172.0, 1072.0, 1005, 2)
    assert not beat.live and not beat.stale


def test_a_step_while_the_stamp_is_hidden_is_learned():
    # A job hides the balloon fields for a minute; the clock steps 0.9 s
    # ahead meanwhile, then the guest reboots (the old kernel's last beat
    # at 1051.35: stamp 1051) and the clock steps 0.85 s back. Against the
    # last sample with a stamp the clock moved 0.05 s: the old beat looked
    # later than the reset (1051.4), unless the hidden samples count.
    beat = live_heartbeat()
    for now in range(103, 130, 2):
        beat.sample(now, now + 900.0, None, PERIOD)
    for now in range(131, 150, 2):
        beat.sample(now, now + 900.9, None, PERIOD)
    beat.reset(150.5)
    assert not beat.sample(152.0, 1052.05, 1051, PERIOD)
    assert not beat.live
    assert not beat.sample(156.0, 1056.05, 1051, PERIOD)
    assert not beat.stale
