"""Scale part -- SIMULATED: thousands of guests this machine cannot boot.

Runs :mod:`benchmarks.simulated` once per size, each in a fresh interpreter
(clean memory figures), and tabulates what it prints. libvirtd's worker pool
(20 workers, shared with the statistics call) and its per-connection limit
(5 calls) are modelled; the monitor keeps to its default worker budget
(``B = 10``, ``B_h = 8`` of them for guests that answer).
"""

import json
import logging
import pathlib
import subprocess
import sys
import time
from typing import Any

from masakari_introspect.runtime.budget import Budget

from benchmarks import simulated
from benchmarks.report import PartResult
from benchmarks.tables import Table
from benchmarks.tables import Target
from benchmarks.tables import number
from benchmarks.tables import seconds

LOG = logging.getLogger(__name__)

# (guests, hung at once)
SIZES = ((1000, 8), (1000, 50), (1000, 200), (5000, 0))
SLOTS = 5                   # libvirtd's max_client_requests
WORKERS = 20                # libvirtd's max_workers
SHARE = 0.5                 # [libvirt] worker_share
BUDGET = Budget.of(WORKERS, SHARE)
THRESHOLD = 3
INTERVAL = 10
TIMEOUT = 2
TARGET_GUESTS = 5000
PERIOD_TARGET = 1.2         # x interval, p95 of the healthy guests
CORE_TARGET = 10.0          # % of one core
RSS_TARGET = 120.0          # MiB
FEW = 8                     # up to this many hung: the plain bounds
# Measured with the sizes: every guest with an application probe (issue 20).
APP_EVERY = 2               # intervals
APPLICATION = (('1000, 8 hung, an application probe every %d intervals'
                % APP_EVERY, 1000, 8, ['--app-every', str(APP_EVERY)]),)
# Issue 19: this many guests, of which this many kernels die at once (their
# balloon heartbeat, statistics period HEARTBEAT_PERIOD, stops).
DEAD_KERNELS = (1000, 200)
HEARTBEAT_PERIOD = 2


def dead_kernel_bound() -> float:
    """2 x period + 1 + interval + 1 s."""
    return 2 * HEARTBEAT_PERIOD + 1 + INTERVAL + 1
# Extra runs (--scale-diagnostics): what the budget and the store change.
DIAGNOSTICS = (
    ('1000, 200 hung, without the budget (lanes as before)', 1000, 200,
     ['--no-budget']),
    ('5000, none hung, without StateStore', 5000, 0, ['--no-store']),
)


def backlog(hung: int) -> float:
    """k x T / B_h: the healthy lane's time to serve k hung guests' first
    probes."""
    return hung * TIMEOUT / BUDGET.healthy if hung > FEW else 0.0


def report_bound(hung: int) -> float:
    return backlog(hung) + THRESHOLD * INTERVAL + TIMEOUT + 5


def period_bound(hung: int) -> float:
    return INTERVAL + backlog(hung) if hung > FEW \
        else PERIOD_TARGET * INTERVAL


def window_for(hung: int, quick: bool) -> float:
    """Long enough for every report and for the periods that begin in the
    three intervals after the hang to end."""
    base = 2.5 * INTERVAL if quick else 60.0
    return max(base, 3 * INTERVAL + period_bound(hung) + INTERVAL,
               report_bound(hung) + 5)


def simulate(guests: int, hung: int, *, warmup: float, window: float,
             cap: float, extra: list[str], repo: pathlib.Path
             ) -> dict[str, Any]:
    cmd = [sys.executable, '-m', 'benchmarks.simulated',
           '--guests', str(guests), '--hung', str(hung),
           '--connection-slots', str(SLOTS), '--max-workers', str(WORKERS),
           '--worker-share', str(SHARE), '--threshold', str(THRESHOLD),
           '--interval', str(INTERVAL), '--timeout', str(TIMEOUT),
           '--warmup', str(warmup), '--window', str(window),
           '--cap', str(cap), '--json', *extra]
    LOG.info('simulating %d guests, %d hung%s', guests, hung,
             ' (%s)' % ' '.join(extra) if extra else '')
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True,
                          timeout=warmup + cap + 120)
    if done.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s' % (' '.join(cmd),
                                                    done.returncode,
                                                    done.stderr[-3000:]))
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def row(label: str, r: dict[str, Any]) -> list[str]:
    return [label, str(r['hung']), number(r['period_median_s']),
            number(r['period_p95_s']), number(r['period_max_s']),
            number(r['cpu_s_per_1000_probes'], '%.3f'),
            number(r['core_pct'], '%.1f'), number(r['rss_mib'], '%.1f'),
            number(r['hwm_mib'], '%.1f'),
            seconds(r['detect_median_s']), seconds(r['detect_max_s']),
            '%d/%d' % (r['detected'], r['hung']), str(r['false_reports']),
            '%d / %s' % (r['max_in_flight'], r['budget'] or '-'),
            number(r['stats_wait_max_s'], '%.3f'), '%.0f' % r['window_s']]


def targets_of(label: str, r: dict[str, Any]) -> list[Target]:
    if r.get('dead_kernels'):
        return dead_kernel_targets(label, r)
    hung = r['hung']
    found: list[Target] = []
    if hung:
        found.append(Target(
            'scale (simulated): %s, every hung guest reported within %s'
            % (label, 'N x I + T + 5 s' if hung <= FEW
               else 'k x T / B_h + N x I + T + 5 s'),
            r['detect_max_s'] if r['detected'] == hung else float('inf'),
            report_bound(hung), ' s'))
    found.append(Target(
        'scale (simulated): %s, healthy period p95 (3 intervals after the '
        'hang)' % label, r['period_p95_s'], period_bound(hung), ' s'))
    found.append(Target('scale (simulated): %s, healthy guests reported'
                        % label, r['false_reports'], 0))
    found.append(Target('scale (simulated): %s, agent calls in flight'
                        % label, r['max_in_flight'], r['budget']))
    if r['guests'] == TARGET_GUESTS or r.get('app_every'):
        found.append(Target('scale (simulated): %s, CPU' % label,
                            r['core_pct'], CORE_TARGET, ' % of one core'))
        found.append(Target('scale (simulated): %s, peak resident memory'
                            % label, r['hwm_mib'], RSS_TARGET, ' MiB'))
    return found


def dead_kernel_targets(label: str, r: dict[str, Any]) -> list[Target]:
    dead = r['hung']
    return [
        Target('scale (simulated): %s, every dead kernel reported '
               '(kernel_hung) within 2 x period + 1 + I + 1 s' % label,
               r['detect_max_s'] if r['detected'] == dead and
               r['dead_reasons'].get('kernel_hung', 0) == dead
               else float('inf'), dead_kernel_bound(), ' s'),
        Target('scale (simulated): %s, agent calls to dead kernels after '
               'their heartbeat went stale' % label,
               r['dead_calls_after_stale'], 0),
        Target('scale (simulated): %s, healthy guests reported' % label,
               r['false_reports'], 0),
        Target('scale (simulated): %s, CPU' % label, r['core_pct'],
               CORE_TARGET, ' % of one core'),
        Target('scale (simulated): %s, peak resident memory' % label,
               r['hwm_mib'], RSS_TARGET, ' MiB'),
    ]


def run(*, repo: pathlib.Path, quick: bool, diagnostics: bool
        ) -> PartResult:
    started = time.monotonic()
    # Guests are first probed in grace, on the suspect lane (B_s calls at
    # once): 5,000 take about 20 s to answer once. Measure after that.
    warmup = 1.5 * INTERVAL if quick else 4 * INTERVAL
    runs: list[tuple[str, dict[str, Any]]] = []
    for guests, hung in SIZES:
        window = window_for(hung, quick)
        runs.append(('%d, %s hung' % (guests, hung or 'none'), simulate(
            guests, hung, warmup=warmup, window=window, cap=2 * window,
            extra=[], repo=repo)))
    for label, guests, hung, extra in APPLICATION:
        window = window_for(hung, quick)
        runs.append((label, simulate(
            guests, hung, warmup=warmup, window=window, cap=2 * window,
            extra=extra, repo=repo)))
    guests, dead = DEAD_KERNELS
    window = max(2.5 * INTERVAL if quick else 40.0, dead_kernel_bound() + 10)
    runs.append(('%d, %d dead kernels' % (guests, dead), simulate(
        guests, dead, warmup=warmup, window=window, cap=2 * window,
        extra=['--heartbeat-period', str(HEARTBEAT_PERIOD),
               '--dead-kernels'], repo=repo)))
    measured = list(runs)
    if diagnostics:
        for label, guests, hung, extra in DIAGNOSTICS:
            window = window_for(hung, quick)
            runs.append((label, simulate(
                guests, hung, warmup=warmup, window=window, cap=2 * window,
                extra=extra, repo=repo)))
    main = Table(
        'Scale (SIMULATED hypervisor, real monitor): guests hung at once, '
        'probe_interval %d, probe_timeout %d, failure_threshold %d; '
        "libvirtd's worker pool of %d (shared with the statistics call) and "
        '%d calls per connection; worker budget B = %d, B_h = %d'
        % (INTERVAL, TIMEOUT, THRESHOLD, WORKERS, SLOTS, BUDGET.total,
           BUDGET.healthy),
        ['guests', 'hung', 'period median s', 'period p95 s',
         'period max s', 'CPU s / 1000 probes', '% of one core', 'RSS MiB',
         'peak RSS MiB', 'detect median s', 'detect worst s', 'reported',
         'healthy reported', 'calls in flight max / B',
         'statistics call waited s', 'window s'],
        [row(label, result) for label, result in runs],
        [simulated.SIMULATED_NOTE,
         'period: gaps between ping starts of each healthy guest that begin '
         'in the three intervals after the hang; CPU and detection over '
         'the window from the hang (until every hung guest was reported '
         'and the periods ended)',
         'the hung guests answered their first pings (warm-up %.0f s), '
         'then all hang at the same moment' % warmup])
    threads = Table(
        'Scale (SIMULATED): CPU seconds in the window, per thread group',
        ['guests', 'monitor (owner)', 'probe-healthy', 'probe-suspect',
         'sender', 'other'],
        [[label] + thread_row(result) for label, result in runs])
    targets = [target for label, result in measured
               for target in targets_of(label, result)]
    method = [
        simulated.SIMULATED_NOTE + '.',
        'Each size runs in a fresh interpreter: python -m '
        'benchmarks.simulated --guests N --hung K (the guests answer at '
        'first; after the warm-up K of them hang at once).',
        'CPU: time.process_time() of the whole process (the simulator '
        'included) over the window; memory: VmRSS and VmHWM from '
        '/proc/self/status; detection: from the moment of the hang to the '
        "notifier's call (through the real Sender and Spool); calls in "
        'flight: agent calls inside the simulated libvirtd at once, waiting '
        'for a worker included.',
        'Bounds (k hung, B_h = %d): reported within k x T / B_h + N x I + '
        'T + 5 s, healthy period p95 within I + k x T / B_h; up to %d hung: '
        'N x I + T + 5 s and 1.2 x I.' % (BUDGET.healthy, FEW),
        'Application probes: each guest runs /bin/true every %d intervals '
        '(guest-info once, then guest-exec and guest-exec-status per run, '
        'each call as long as a ping); their calls share the simulated '
        'libvirtd with the pings and count in the calls in flight.'
        % APP_EVERY,
        'Dead kernels (issue 19): every guest has a balloon heartbeat '
        '(statistics period %d s); after the warm-up %d of %d guests\' '
        'kernels die at once (stamp frozen, agent silent): each reported '
        'kernel_hung within 2 x period + 1 + I + 1 = %.0f s, no agent call '
        'to them started after 2 x period + 1 + I s from the death, no '
        'healthy guest reported.' % (HEARTBEAT_PERIOD, DEAD_KERNELS[1],
                                     DEAD_KERNELS[0], dead_kernel_bound()),
    ]
    return PartResult(
        name='scale', title='Scale, SIMULATED hypervisor', method=method,
        tables=[main, threads], targets=targets,
        data={'runs': [dict(result, label=label) for label, result in runs],
              'warmup_s': warmup},
        seconds=time.monotonic() - started)


def thread_row(result: dict[str, Any]) -> list[str]:
    by_thread = dict(result['cpu_by_thread'])
    cells = [number(by_thread.pop(name, 0.0))
             for name in ('monitor', 'probe-healthy', 'probe-suspect',
                          'sender')]
    return cells + [number(sum(by_thread.values()))]
