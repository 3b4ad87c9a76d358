"""Cost part (real guests): CPU and memory of the monitor processes.

Both services watch the same 8 healthy guests with the production defaults
(probe_interval 10, probe_timeout 2, debug off), started together and
measured over the same window: CPU from utime + stime in
/proc/<pid>/stat (all threads; upstream: every process of its group),
resident memory from VmRSS, sampled every 5 s. Their pings are short
(milliseconds), so running them side by side does not disturb either.
Upstream runs uninstrumented here.
"""

import dataclasses
import logging
import time
from collections.abc import Callable

from benchmarks import bed as bedlib
from benchmarks import observe
from benchmarks import stats
from benchmarks.report import PartResult
from benchmarks.tables import Table
from benchmarks.tables import number

LOG = logging.getLogger(__name__)

INTERVAL = 10
TIMEOUT = 2
SAMPLE_EVERY = 5.0
SETTLE = 15.0                 # both have pinged every guest by then


@dataclasses.dataclass
class Cost:
    monitor: str
    seconds: float
    cpu_seconds: float
    rss_kib: list[int]
    probes: float             # guests x window / interval

    def row(self) -> list[str]:
        return [self.monitor, '%.0f' % self.seconds,
                number(self.cpu_seconds),
                number(self.cpu_seconds / self.seconds * 100, '%.2f %%'),
                number(self.cpu_seconds / self.probes * 1000, '%.2f'),
                number(mib(stats.median(self.rss_kib)), '%.1f'),
                number(mib(stats.worst(self.rss_kib)), '%.1f')]


def mib(kib: float | None) -> float | None:
    return None if kib is None else kib / 1024


def pids_running(needle: str) -> list[int]:
    """Processes whose command line contains ``needle`` (a config path)."""
    return [pid for pid, cmdline in observe.command_lines().items()
            if needle in cmdline]


def total(pids: list[int], read: Callable[[int], float]) -> float:
    value = 0.0
    for pid in pids:
        try:
            value += read(pid)
        except OSError:
            pass      # ended meanwhile
    return value


def run(bed: bedlib.Bed, *, duration: float) -> PartResult:
    started = time.monotonic()
    bed.ensure_healthy()
    contention = bed.quiet()
    ours = bed.ours('cost-ours', interval=INTERVAL, timeout=TIMEOUT,
                    debug=False)
    upstream = bed.upstream('cost-upstream', interval=INTERVAL,
                            timeout=TIMEOUT, debug=False, instrumented=False)
    ours.start()
    upstream.start()
    try:
        bedlib.wait_seen_healthy_ours(ours, bed.guests, None, 60)
        time.sleep(SETTLE)
        groups = {'ours': [ours.pid]}
        leader = pids_running(str(upstream.conf_path))
        groups['upstream'] = [pid for first in leader
                              for pid in observe.process_group(first)] \
            or leader
        LOG.info('measuring cost for %.0f s: %s', duration, groups)
        cpu0 = {name: total(pids, observe.cpu_seconds)
                for name, pids in groups.items()}
        rss: dict[str, list[int]] = {name: [] for name in groups}
        begin = time.monotonic()
        while time.monotonic() - begin < duration:
            for name, pids in groups.items():
                rss[name].append(int(total(pids, observe.rss_kib)))
            time.sleep(min(SAMPLE_EVERY,
                           max(duration - (time.monotonic() - begin), 0)))
        window = time.monotonic() - begin
        cpu1 = {name: total(pids, observe.cpu_seconds)
                for name, pids in groups.items()}
    finally:
        bed.stop(ours)
        bed.stop(upstream)
    contention += bedlib.foreign_activity(bed.rundir)
    probes = len(bed.guests) * window / INTERVAL
    costs = [Cost(name, window, cpu1[name] - cpu0[name], rss[name], probes)
             for name in groups]
    table = Table(
        'Cost on this node: %d real guests, probe_interval %d, '
        'probe_timeout %d' % (len(bed.guests), INTERVAL, TIMEOUT),
        ['monitor', 'window s', 'CPU s', '% of one core',
         'CPU ms per probe', 'RSS MiB median', 'RSS MiB max'],
        [cost.row() for cost in costs],
        ['CPU: utime + stime from /proc/<pid>/stat (clock ticks of 10 ms); '
         'both processes measured over the same window'])
    if contention:
        table.notes.append('other activity on the host during the part: '
                           + ', '.join(sorted(set(contention))))
    method = [
        'Both services watch the same %d healthy guests with the '
        'production defaults (probe_interval %d, probe_timeout %d, debug '
        'off), side by side, after %.0f s of settling.'
        % (len(bed.guests), INTERVAL, TIMEOUT, SETTLE),
    ]
    return PartResult(
        name='cost', title='Cost on a real node', method=method,
        tables=[table], targets=[],
        data={'costs': [dataclasses.asdict(cost) for cost in costs]},
        seconds=time.monotonic() - started)
