"""What a guest shows besides its agent: its own work, read from statistics
samples, and a domain job that holds it. Pure; times are monotonic seconds
passed in."""


class Work:
    """The guest's work, attributed by the time span each sample covers
    (from the previous sample to this one)."""

    def __init__(self) -> None:
        self.sampled_at: float | None = None   # the last sample
        self.last: float | None = None    # end of the last span with work
        self.since = float('-inf')        # ... and its start

    def sample(self, now: float, active: bool) -> None:
        span_from, self.sampled_at = self.sampled_at, now
        if active:
            self.last = now
            self.since = float('-inf') if span_from is None else span_from

    def after(self, moment: float) -> bool:
        """Work in a span that starts at or after ``moment``."""
        return self.last is not None and self.since >= moment

    @property
    def recent(self) -> bool:
        """The last sample's span had work."""
        return self.last is not None and self.last == self.sampled_at

    def idle_for(self, now: float) -> float:
        """Seconds since the end of the last span with work."""
        return now - (self.last if self.last is not None else float('-inf'))


class Job:
    """A domain job (migration, dump, save, backup, snapshot) holding the
    domain. Jobs shield the guest for at most ``grace_max`` seconds in all,
    from the first one found since its agent last answered: jobs that
    follow one another (a backup, disk by disk) cannot shield a dead guest
    for longer than one."""

    def __init__(self, grace_max: float) -> None:
        self.grace_max = grace_max
        self.since: float | None = None   # the job held now, found at
        self.first: float | None = None   # the first job since an answer
        self.overran = False    # held longer than grace_max

    @property
    def held(self) -> bool:
        return self.since is not None

    def seen(self, now: float) -> bool:
        """A probe found the job; True while it still shields."""
        if self.since is None:
            self.since = now
        if self.first is None:
            self.first = now
        if self.shields(now):
            return True
        self.overran = True
        return False

    def shields(self, now: float) -> bool:
        return self.since is not None and self.first is not None and \
            now - self.first < self.grace_max

    def end(self) -> bool:
        """The job is over; True if it shielded the guest until then (an
        overrun job gives no fresh window)."""
        shielded = self.held and not self.overran
        self.since, self.overran = None, False
        return shielded

    def clear(self) -> None:
        """The agent answered, or the guest booted: a new allowance."""
        self.end()
        self.first = None
