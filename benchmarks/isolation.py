"""Isolation part (real guests): do hung guests delay the healthy ones?

Eight guests, probe_interval 2, probe_timeout 1. Each monitor runs alone,
sees every guest answer, then: a window with no guest hung, a window with 4
guests' agents hung (SIGSTOP) at once; for ours also a window with 6 hung,
one more than libvirtd's default ``max_client_requests`` (5 calls of one
connection served at once). The achieved probe period of each healthy guest
is the gap between two successive successful pings of it, read from the
logs: ours logs ``Probe <name> (<uuid>): ok`` at DEBUG, upstream logs
``Ping <uuid> ok`` through the benchmark's shim. Notifications for the
healthy guests in a window are false reports.
"""

import dataclasses
import logging
import pathlib
import re
import time

from tests.bed.guest import Guest

from benchmarks import bed as bedlib
from benchmarks import observe
from benchmarks import stats
from benchmarks import upstream_shim
from benchmarks.report import PartResult
from benchmarks.tables import Table
from benchmarks.tables import Target
from benchmarks.tables import number

LOG = logging.getLogger(__name__)

INTERVAL = 2
TIMEOUT = 1
PERIOD_TARGET = 1.2           # x interval, p95, with 4 of 8 hung
OURS_PING_OK = re.compile(r'Probe \S+ \((?P<uuid>[0-9a-f-]{36})\): ok ')


@dataclasses.dataclass
class Window:
    monitor: str
    hung: int
    seconds: float
    periods: list[float]        # healthy guests' probe periods
    reported_hung: int          # hung guests notified in the window
    false_reports: int          # healthy guests notified in the window

    def row(self, baseline: 'Window | None') -> list[str]:
        median = stats.median(self.periods)
        p95 = stats.percentile(self.periods, 95)
        stretch = stats.ratio(p95, stats.percentile(baseline.periods, 95)) \
            if baseline is not None and baseline is not self else None
        label = 'none' if self.hung == 0 else '%d of 8' % self.hung
        if self.hung > 5:
            label += ' (> max_client_requests 5)'
        return [self.monitor, label, number(median), number(p95), number(
            stats.worst(self.periods)), str(len(self.periods)),
            '-' if stretch is None else 'x %.1f' % stretch,
            '%d/%d' % (self.reported_hung, self.hung),
            str(self.false_reports)]


def measure(bed: bedlib.Bed, monitor: str, log_path: pathlib.Path,
            pattern: re.Pattern[str], hung: list[Guest], seconds: float
            ) -> Window:
    """Hang ``hung`` at once, watch for ``seconds``, heal them again."""
    bed.api.reset()
    start = observe.file_size(log_path)
    bedlib.hang_all(hung)
    time.sleep(seconds)
    text = observe.read_from(log_path, start, observe.file_size(log_path))
    notified = bed.notified()
    bedlib.heal_all(hung)
    hung_ids = {guest.uuid for guest in hung}
    healthy = [guest.uuid for guest in bed.guests if guest.uuid not in hung_ids]
    times = observe.times_by_uuid(text, pattern)
    periods = [gap for uuid in healthy for gap in observe.gaps(
        times.get(uuid, []))]
    window = Window(monitor, len(hung), seconds, periods,
                    len(notified & hung_ids), len(notified - hung_ids))
    LOG.info('%s, %d hung: healthy period median %s p95 %s (%d samples)',
             monitor, len(hung), number(stats.median(periods)),
             number(stats.percentile(periods, 95)), len(periods))
    return window


def run(bed: bedlib.Bed, *, quiet_window: float, hung_window: float
        ) -> PartResult:
    started = time.monotonic()
    guests = bed.guests
    bed.ensure_healthy()
    windows: list[Window] = []
    contention = bed.quiet()

    ours = bed.ours('isolation-ours', interval=INTERVAL, timeout=TIMEOUT)
    ours.start()
    try:
        bedlib.wait_seen_healthy_ours(ours, guests, None, 60)
        for hung, seconds in ((0, quiet_window), (4, hung_window),
                              (6, hung_window)):
            victims = guests[len(guests) - hung:] if hung else []
            after = ours.mark()
            windows.append(measure(bed, 'ours', ours.log_path,
                                   OURS_PING_OK, victims, seconds))
            bedlib.wait_seen_healthy_ours(ours, victims, after, 60)
    finally:
        bed.stop(ours)

    contention += bed.quiet()
    upstream = bed.upstream('isolation-upstream', interval=INTERVAL,
                            timeout=TIMEOUT)
    upstream.start()
    try:
        bedlib.wait_seen_healthy_upstream(upstream, guests, 0, 60)
        # With 4 hung, one upstream cycle takes over 20 s: watch longer to
        # see at least two.
        for hung, seconds in ((0, quiet_window),
                              (4, max(1.5 * hung_window, 50.0))):
            victims = guests[len(guests) - hung:] if hung else []
            windows.append(measure(bed, 'upstream', upstream.log_path,
                                   upstream_shim.PING_OK, victims, seconds))
    finally:
        bed.stop(upstream)
    bed.ensure_healthy()
    contention += bedlib.foreign_activity(bed.rundir)

    baselines = {w.monitor: w for w in windows if w.hung == 0}
    table = Table(
        'Isolation: achieved probe period of the healthy guests (s), '
        'probe_interval %d, real guests' % INTERVAL,
        ['monitor', 'hung at once', 'median', 'p95', 'max', 'samples',
         'p95 vs none hung', 'hung reported', 'false reports'],
        [w.row(baselines.get(w.monitor)) for w in windows],
        ['windows: %s s' % ', '.join('%.0f' % w.seconds for w in windows),
         'target (ours, 4 of 8 hung): p95 <= %.1f x interval = %.1f s'
         % (PERIOD_TARGET, PERIOD_TARGET * INTERVAL)], labels=2)
    if contention:
        table.notes.append('other activity on the host during the part: '
                           + ', '.join(sorted(set(contention))))
    four = next(w for w in windows if w.monitor == 'ours' and w.hung == 4)
    targets = [Target('isolation: ours, healthy probe period p95 with 4 of '
                      '8 hung', stats.percentile(four.periods, 95),
                      PERIOD_TARGET * INTERVAL, ' s')]
    method = [
        '8 real guests, probe_interval %d s, probe_timeout %d s; each '
        'monitor alone; agents hung with SIGSTOP inside the guests, all at '
        'once.' % (INTERVAL, TIMEOUT),
        'Probe period: gap between two successive successful pings of one '
        'healthy guest, from log timestamps (ms resolution).',
    ]
    return PartResult(
        name='isolation', title='Isolation, real guests', method=method,
        tables=[table], targets=targets,
        data={'windows': [dataclasses.asdict(w) for w in windows]},
        seconds=time.monotonic() - started)
