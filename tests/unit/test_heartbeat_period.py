"""A balloon statistics period changed live by someone else (an operator's
``virsh dommemstat --period N --live``, Nova, another tool): the heartbeat
follows the period the domain's live XML shows, read through
:class:`BalloonPeriods` as the statistics call reads it, and never judges a
stamp by a period no longer in force."""

import dataclasses
import math

from masakari_introspect.core.heartbeat import stale_after
from masakari_introspect.core.model import Phase
from masakari_introspect.virt.balloon import EARLY_SPACING
from masakari_introspect.virt.balloon import BalloonPeriods
from tests.unit.fakes import A, FakeClock
from tests.unit.heartbeat_bed import INTERVAL
from tests.unit.heartbeat_bed import Bed

XML = ("<domain><devices><memballoon model='virtio'>%s</memballoon>"
       "</devices></domain>")


class QemuBalloon:
    """QEMU's side of guest A's balloon, as measured on the bed: it asks
    the guest every period and stamps the answer (whole seconds of the
    host's wall clock); a new period (set live) takes effect one new period
    after the change, 0 stops it, and a period set again from 0 asks at
    once. libvirt's live XML shows the period; ``dead``: the kernel no
    longer answers."""

    def __init__(self, wall, period):
        self.wall = wall
        self.period = period
        self.stamp = int(wall())
        self.next = wall() + period
        self.dead = False
        self.set_to = []      # by the service

    def at(self):
        now = self.wall()
        while self.period and self.next <= now:
            if not self.dead:
                self.stamp = int(self.next)
            self.next += self.period
        return self.stamp

    def change(self, period):
        """Set live (by anyone)."""
        self.at()
        now = self.wall()
        self.next = math.inf if not period else \
            now if not self.period else now + period
        self.period = period

    # the domain, as the statistics call sees it
    def ID(self):
        return 1

    def XMLDesc(self, _flags):
        return XML % ("<stats period='%d'/>" % self.period
                      if self.period else '')

    def setMemoryStatsPeriod(self, period, _flags):
        self.set_to.append(period)
        self.change(period)


class FollowBed(Bed):
    """The heartbeat bed, guest A's stamp and period from a QemuBalloon
    read through BalloonPeriods (wanted: ``wanted``)."""

    wanted = 2
    start_period = 1
    balloon = None

    def sample(self):
        if self.balloon is None:
            self.balloon = QemuBalloon(self.wall, self.start_period)
            self.periods = BalloonPeriods(self.wanted, self.clock)
        activities = super().sample()
        stamp = self.balloon.at()
        period = self.periods.period(self.balloon, A, stamp, self.wall())
        return [dataclasses.replace(a, heartbeat=stamp,
                                    heartbeat_period=period)
                if a.uuid == A else a for a in activities]

    @classmethod
    def with_balloon(cls, start_period, wanted=wanted):
        """A bed whose guest A starts with ``start_period`` (the monitor
        sets ``wanted``), its agent lost."""
        bed = cls.__new__(cls)
        bed.wanted, bed.start_period = wanted, start_period
        Bed.__init__(bed)
        bed.lose_agent()
        return bed

    def until_reported(self, seconds):
        start = self.wall()
        while not self.reports() and self.wall() - start < seconds:
            self.tick()
        return self.wall() - start


def test_a_longer_period_set_live_gives_no_kernel_hung():
    # Agent lost, kernel alive: the heartbeat is the only evidence. The
    # period goes from 1 to 10 s; with the old period in hand the stamp
    # was stale 3 s later and the live guest reported kernel_hung.
    bed = FollowBed()
    bed.lose_agent()
    bed.run(3)
    assert bed.fleet.watched[A].heartbeat.live
    bed.balloon.change(10)
    bed.run(30)                                      # a minute
    assert bed.reports() == []
    assert bed.state().phase is Phase.AGENT_LOST
    heartbeat = bed.fleet.watched[A].heartbeat
    assert heartbeat.live and heartbeat.period == 10
    # It still tells a dead kernel, in the new period's bound.
    bed.balloon.dead = True
    took = bed.until_reported(60)
    assert bed.reasons() == ['kernel_hung']
    assert took <= 10 + stale_after(10) + INTERVAL + 1


def test_a_shorter_period_set_live_is_followed():
    # 10 s (Nova's default, left alone with wanted 0) to 2 s: the dead
    # kernel is told in the 2 s bound, not the 10 s one.
    bed = FollowBed.with_balloon(10, wanted=0)
    bed.run(10)
    bed.balloon.change(2)
    bed.run(5)
    heartbeat = bed.fleet.watched[A].heartbeat
    assert heartbeat.live and heartbeat.period == 2
    bed.balloon.dead = True
    took = bed.until_reported(60)
    assert bed.reasons() == ['kernel_hung']
    assert took <= 2 + stale_after(2) + INTERVAL + 1


def test_statistics_turned_off_by_an_operator_are_respected(caplog):
    # Statistics off at start: the service sets its period once. The
    # operator then turns them off: not set again (not fought every tick),
    # one WARNING, and no kernel_hung: the guest has no heartbeat now, and
    # its lost agent is judged as without one (reported as before).
    bed = FollowBed.with_balloon(0)
    bed.run(3)
    assert bed.balloon.set_to == [2]
    assert bed.fleet.watched[A].heartbeat.live
    bed.balloon.change(0)
    bed.run(30)
    assert bed.reasons() == ['disconnected']
    assert bed.balloon.set_to == [2]
    assert not bed.fleet.watched[A].heartbeat.live
    warnings = [r for r in caplog.records
                if 'were turned off' in r.getMessage()]
    assert len(warnings) == 1
    # On again (by the operator): followed, and live once it moves.
    bed.actions.clear()
    bed.closed.discard(A)
    bed.balloon.change(5)
    bed.run(8)
    heartbeat = bed.fleet.watched[A].heartbeat
    assert heartbeat.live and heartbeat.period == 5


# -- what it costs: the domain's XML is read again only when needed ------------


class CountingDomain(QemuBalloon):
    def __init__(self, wall, period):
        super().__init__(wall, period)
        self.reads = 0

    def XMLDesc(self, flags):
        self.reads += 1
        return super().XMLDesc(flags)


def test_a_beating_guest_costs_no_read_and_a_dead_one_one():
    wall, clock = FakeClock(1.7e9), FakeClock()
    dom = CountingDomain(wall, 2)
    periods = BalloonPeriods(2, clock)

    def sample():
        wall.advance(INTERVAL)
        clock.advance(INTERVAL)
        return periods.period(dom, A, dom.at(), wall())

    for _ in range(100):
        assert sample() == 2
    assert dom.reads == 1                       # the first, per process
    dom.dead = True
    for _ in range(100):
        assert sample() == 2
    assert dom.reads == 2                       # once, when it was late


def test_an_early_stamp_is_read_at_most_once_per_spacing():
    # Statistics off in the XML but the stamp moves (set behind libvirt's
    # back, e.g. through the QEMU monitor): not a read per beat.
    wall, clock = FakeClock(1.7e9), FakeClock()
    dom = CountingDomain(wall, 0)
    periods = BalloonPeriods(0, clock)
    dom.period, dom.next = 1, wall() + 1         # the XML still says 0
    dom.XMLDesc = lambda flags: (setattr(dom, 'reads', dom.reads + 1)
                                 or XML % '')
    for _ in range(int(EARLY_SPACING * 3 / INTERVAL)):
        wall.advance(INTERVAL)
        clock.advance(INTERVAL)
        assert periods.period(dom, A, dom.at(), wall()) == 0
    assert dom.reads <= 1 + 3 + 1


def test_any_period_change_relearns_the_heartbeat():
    # Longer too: the stamp in hand came under the old period; the
    # heartbeat is not live again until it moves (as after a reset).
    from masakari_introspect.core.heartbeat import Heartbeat
    beat = Heartbeat()
    beat.sample(100.0, 1000.0, 1000, 1)
    beat.sample(101.0, 1001.0, 1001, 1)
    assert beat.live
    assert not beat.sample(103.0, 1003.0, 1001, 10)
    assert not beat.live and not beat.stale
    assert not beat.sample(111.0, 1011.0, 1001, 10)    # 10 s: not stale
    beat.sample(113.0, 1013.0, 1012, 10)
    assert beat.live and beat.period == 10
