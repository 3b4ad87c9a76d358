"""Randomised runs of one guest's heartbeat (fixed seeds): a live guest is
never stale, whatever its resets, pauses, clock steps, period changes,
hidden stamps and slow statistics calls; a kernel that dies while its
heartbeat is live is stale within 2 x period + 1 + interval + 1 s of its
last beat."""

import math
import random

import pytest

from masakari_introspect.core.heartbeat import Heartbeat
from masakari_introspect.core.heartbeat import stale_after

SEEDS = range(300)
END = 600.0
TICK = 0.05


class Guest:
    """QEMU asks the balloon driver every period (its timer stops while
    paused or with statistics off); the driver answers when loaded, and
    the stamp is the host's wall clock in whole seconds. The monitor
    handles each event up to ``late`` seconds after it happened, and
    skips samples while it knows the guest paused."""

    def __init__(self, r):
        self.r = r
        self.beat = Heartbeat()
        self.now, self.offset = 100.0, 1e6 + r.random()
        self.period = r.choice([1, 2, 10])
        self.asks = self.now + r.random() * self.period
        self.loaded_at = self.now - 1
        self.stamp = None
        self.last_beat = None
        self.paused = self.off = self.hidden = False
        self.known_paused = False
        self.pending = []          # (kind, handled at)
        self.dead = False

    def run(self, seconds):
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += min(TICK, end - self.now)
            if self.paused or self.off:
                self.asks += TICK
            elif self.now >= self.asks:
                self.asks += self.period
                if self.now >= self.loaded_at and not self.dead:
                    self.stamp = math.floor(self.now + self.offset)
                    self.last_beat = self.now
            for kind, at in list(self.pending):
                if self.now >= at:
                    self.pending.remove((kind, at))
                    self.beat.reset(self.now)
                    if kind in ('pause', 'resume'):
                        self.known_paused = kind == 'pause'

    def happen(self, late):
        r, choice = self.r, self.r.random()
        if choice < 0.04 and not self.pending and not self.paused:
            self.loaded_at = self.now + r.uniform(0, 30)     # it reboots
            self.pending.append(('reboot', self.now + r.uniform(0, late)))
        elif choice < 0.07 and not self.pending:
            self.paused = not self.paused
            self.pending.append(('pause' if self.paused else 'resume',
                                 self.now + r.uniform(0, late)))
        elif choice < 0.09:
            small = r.random() < 0.7
            self.offset += r.uniform(-0.99, 0.99) if small else \
                r.uniform(-30, 30)
        elif choice < 0.10:
            self.period = r.choice([1, 2, 10])
            self.asks = self.now + self.period
        elif choice < 0.12:
            self.beat.reset(self.now)      # the end of maintenance
        elif choice < 0.14:
            self.hidden = not self.hidden  # a job holds the domain
        elif choice < 0.15:
            self.off = not self.off
            self.asks = self.now + self.period

    def sample(self, slow):
        """Asked now, the stamps read ``slow`` seconds later."""
        asked, wall = self.now, self.now + self.offset
        self.run(slow)
        if self.known_paused:
            return False
        return self.beat.sample(asked, wall,
                                None if self.hidden else self.stamp,
                                0 if self.off else self.period)


@pytest.mark.parametrize('seed', SEEDS)
def test_a_live_guest_is_never_stale(seed):
    r = random.Random(seed)
    guest = Guest(r)
    while guest.now < END:
        guest.run(r.choice([1.0, 2.0, 2.0, 6.0]))
        guest.happen(late=0.5)
        assert not guest.sample(r.choice([0, 0, 0.3, 2, 5])), seed


@pytest.mark.parametrize('seed', SEEDS)
def test_a_dead_kernel_is_stale_in_bound(seed):
    r = random.Random(seed)
    guest = Guest(r)
    interval = 2.0
    while guest.now < END / 2:
        interval = r.choice([1.0, 2.0, 2.0, 6.0])
        guest.run(interval)
        guest.happen(late=0.5)
        guest.sample(r.choice([0, 0, 0.3, 2, 5]))
    # Then it runs plainly until its heartbeat is live, and dies.
    if guest.paused:
        guest.paused = False
        guest.pending.append(('resume', max(
            [guest.now] + [at for _, at in guest.pending])))
    guest.off = guest.hidden = False
    while not guest.beat.live or guest.beat.stale or guest.pending \
            or guest.now < guest.loaded_at:
        assert guest.now < END, seed
        guest.run(interval)
        guest.sample(0)
    guest.dead = True
    last = guest.last_beat
    while True:
        guest.run(interval)
        asked = guest.now
        if guest.sample(r.choice([0, 0, 0.3, 2, 5])):
            break
        # Not stale on a sample asked this long after its last beat: late.
        assert asked - last <= stale_after(guest.period) + interval + 1, seed
