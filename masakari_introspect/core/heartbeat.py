"""The guest kernel's heartbeat: the balloon statistics stamp.

With a virtio balloon whose statistics period is set, QEMU asks the guest
driver (a kernel workqueue, no userspace) for statistics every period and
stamps the reply with its host wall clock in whole seconds; libvirt shows it
as ``balloon.last-update``. Pure; ``now`` is monotonic, ``wall`` the wall
clock, both passed in.

A heartbeat is *live* once the stamp changed since it was (re)learned (a new
QEMU process, a reset, a pause, a wall-clock step, statistics turned off,
another period), or at once on the first stamp after an event (a reset,
a pause) if that stamp is later than the event; and *stale* when a live
stamp has not changed for ``2 x period + 1`` seconds. A sample without a
stamp is no evidence either way. See ``doc/source/design.rst``, "Kernel
heartbeat".
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The wall clock moved this far against the monotonic one between two
# samples: it stepped, and the stamp's age is learned again.
STEP = 1.0
# guest-get-osinfo's id of Windows guests: not kernel evidence there.
WINDOWS = 'mswindows'


def stale_after(period: int) -> float:
    """Seconds without a new stamp after which a live heartbeat is stale."""
    return 2.0 * period + 1.0


def late_after(period: int) -> float:
    """A live stamp this old is late: its next beat is overdue by half a
    period. QEMU asks the guest one period after each answer, so a guest
    that answers within ``lag`` seconds stamps every ``period + lag``
    seconds, and a sample (which reads the stamp no earlier than it was
    asked) finds it less than ``period + 1 + lag`` seconds old (stamps are
    whole seconds): a guest less than half a period late is never late.
    Half-way between the oldest a punctual stamp can be (``period + 1``)
    and stale (``2 x period + 1``)."""
    return 1.5 * period + 1.0


class Heartbeat:
    """One guest's kernel heartbeat."""

    def __init__(self) -> None:
        self.stamp: int | None = None     # the last stamp seen
        self.period = 0                   # the guest's statistics period
        self.live = False                 # changed since (re)learned
        self.stale_since: float | None = None   # monotonic
        self._offset: float | None = None   # wall - monotonic, last sample
        self._age: float | None = None      # at the last sample
        # The guest OS's id from its agent, once per agent connection
        # (None: not known yet); on Windows a user-mode service sends the
        # statistics, so the stamp is no kernel evidence.
        self.os_id: str | None = None
        self.os_asked = False   # ... and asked on this connection
        self._sampled = False       # a sample since (re)learned
        self._blank = False         # ... and the last one had no stamp
        self._seen_at: float | None = None  # first stamp since (monotonic)
        # When it was last reset (monotonic): a sample asked before then
        # may carry the old kernel's last beat, and says nothing.
        self._reset_at: float | None = None
        # ... and a stamp later than this (monotonic; None: not known) is
        # a beat after the reset: the new kernel's.
        self._beats_after: float | None = None
        # The stamp of the last sample, kept across resets: it may predate
        # a wall-clock step learned since, so it is no beat after a reset.
        self._last: int | None = None

    @property
    def stale(self) -> bool:
        return self.stale_since is not None

    @property
    def missed_since(self) -> float | None:
        """When a stale heartbeat's next stamp was due (monotonic): the
        last stamp plus one period, plus a second for whole-second stamps.
        A guest that answered or worked after this lived after its kernel
        last beat."""
        if self.stale_since is None:
            return None
        return self.stale_since - stale_after(self.period) + self.period + 1

    @property
    def late(self) -> bool:
        """The last sample found a live stamp late (see :func:`late_after`),
        not stale yet."""
        return self.live and not self.stale and not self._blank and \
            self._age is not None and self._age >= late_after(self.period)

    def stale_at(self) -> float | None:
        """When a live heartbeat goes stale if its stamp does not move
        (monotonic, on the last sample's offset between the clocks; a step
        since relearns it); None if not live, stale already, or unknown
        (the last sample had no stamp: a job holds the domain)."""
        if not self.live or self.stale or self.stamp is None \
                or self._blank or self._offset is None or self.period <= 0:
            return None
        return self.stamp + stale_after(self.period) - self._offset

    def age(self) -> float | None:
        """Seconds since the last stamp at the last sample, if in use."""
        return self._age if self.live else None

    def learning(self, now: float) -> bool:
        """Not yet known whether the kernel beats: no sample since the
        heartbeat was (re)learned, or a stamp seen that has not moved yet
        for less than ``2 x period + 1`` seconds. A sample without a stamp
        ends it (no heartbeat to wait for)."""
        if self.live or self.stale or self.os_id == WINDOWS:
            return False
        if not self._sampled:
            return True
        return not self._blank and self._seen_at is not None and \
            now - self._seen_at < stale_after(self.period)

    def reset(self, now: float | None = None) -> None:
        """A reboot, reset, pause or new process at ``now``: not live until
        the stamp changes again. The stamp seen before is forgotten: the
        old kernel may have beaten once more between the last sample and
        the reset, and that beat is no sign of the new one. The first
        stamp of a sample asked after ``now`` is the one to move from,
        unless it is later than ``now``: a beat of the new kernel."""
        self.live = False
        self.stale_since = None
        self.stamp = None
        self._sampled, self._seen_at = False, None
        self._beats_after = now
        if now is not None:
            self._reset_at = now

    def sample(self, now: float, wall: float, stamp: int | None,
               period: int) -> bool:
        """Take one statistics sample, asked at ``now``; True if the
        heartbeat went stale on it (False while it stays stale)."""
        if self._reset_at is not None and now < self._reset_at:
            return False    # asked before the reset: the old kernel's
        # The clocks are compared on every sample, with a stamp or not:
        # steps (a small one each) add up however long a job hides it.
        offset, last = wall - now, self._offset
        self._offset = offset
        moved = 0.0 if last is None else offset - last
        if period <= 0 or stamp is None and abs(moved) >= STEP:
            # Statistics off: QEMU stops asking, and asks again one period
            # after they are on again; a stamp seen then, even one later
            # than a reset, may be as old as the pause: no evidence. A
            # step while hidden: the stamp in hand is aged wrong.
            self.reset()
        self._sampled = True
        self._blank = stamp is None or period <= 0
        if stamp is None or period <= 0:
            return False    # no evidence either way
        if self._seen_at is None:
            self._seen_at = now
        before, self._last = self._last, stamp
        # Another period (set live by anyone): QEMU asks one new period
        # after the change, so the stamp in hand, or one seen first now,
        # may be up to the old period old by then; and a stamp judged by
        # the old period would be stale early when the new one is longer.
        changed = self.period > 0 and period != self.period
        self.period = period
        if changed or abs(moved) >= STEP:
            if self.live:
                LOG.info('The %s: the kernel heartbeat is learned again',
                         'wall clock moved %+.0f s' % moved
                         if abs(moved) >= STEP
                         else 'statistics period changed')
            self.reset()
            self.stamp, self._age = stamp, None
            self._sampled, self._seen_at = True, now
            return False
        age = max(wall - stamp, 0.0)
        self._age = age
        if stamp != self.stamp:
            # A whole-second stamp later than the reset's wall clock came
            # after it (its beat was no earlier than the stamp). Only with
            # a sample before, against which the step check above ran: a
            # step back since the old kernel's last beat would make that
            # beat look later than the reset. A step under STEP passes
            # that check; the reset's wall clock read at most the later of
            # the two samples' offsets past it. The stamp sampled before
            # may be older than a step learned then: no beat since.
            self.live = self.stamp is not None or (
                self._beats_after is not None and last is not None
                and stamp != before
                and stamp > self._beats_after + max(offset, last))
            self.stamp = stamp
            self.stale_since = None
        # A new stamp may be stale already: the kernel beat once after the
        # last sample, more than 2 x period + 1 s ago (a longer interval).
        if self.stale or not self.live or age < stale_after(period):
            return False
        self.stale_since = now - (age - stale_after(period))
        return True
