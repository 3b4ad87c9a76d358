"""Scale part -- SIMULATED: thousands of guests this machine cannot boot.

Runs :mod:`benchmarks.simulated` once per size, each in a fresh interpreter
(clean memory figures), and tabulates what it prints.
"""

import json
import logging
import pathlib
import subprocess
import sys
import time
from typing import Any

from benchmarks import simulated
from benchmarks.report import PartResult
from benchmarks.tables import Table
from benchmarks.tables import Target
from benchmarks.tables import number
from benchmarks.tables import seconds

LOG = logging.getLogger(__name__)

# (guests, share hung at once); libvirtd's max_client_requests (5) modelled
SIZES = ((1000, 0.05), (5000, 0.05), (5000, 0.20))
SLOTS = 5
THRESHOLD = 3
HUNG_FRACTION = 0.05
INTERVAL = 10
TIMEOUT = 2
TARGET_GUESTS = 5000
PERIOD_TARGET = 1.2         # x interval, p95 of the healthy guests
CORE_TARGET = 10.0          # % of one core
RSS_TARGET = 120.0          # MiB
# Extra runs (--scale-diagnostics): what the bottlenecks cost.
DIAGNOSTICS = (
    ('without StateStore', ['--no-store']),
    ('no libvirtd limit modelled', ['--connection-slots', '0']),
)


def simulate(guests: int, *, warmup: float, window: float, cap: float,
             extra: list[str], repo: pathlib.Path,
             hung: float = HUNG_FRACTION) -> dict[str, Any]:
    cmd = [sys.executable, '-m', 'benchmarks.simulated',
           '--guests', str(guests), '--hung-fraction', str(hung),
           '--connection-slots', str(SLOTS), '--threshold', str(THRESHOLD),
           '--interval', str(INTERVAL), '--timeout', str(TIMEOUT),
           '--warmup', str(warmup), '--window', str(window),
           '--cap', str(cap), '--json', *extra]
    LOG.info('simulating %d guests%s', guests,
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
            '%.0f' % r['window_s']]


def run(*, repo: pathlib.Path, quick: bool, diagnostics: bool
        ) -> PartResult:
    started = time.monotonic()
    warmup = 1.5 * INTERVAL if quick else 2.5 * INTERVAL
    window = 2.5 * INTERVAL if quick else 60.0
    cap = 6 * INTERVAL if quick else 150.0
    runs: list[tuple[str, dict[str, Any]]] = []
    for guests, hung in SIZES:
        runs.append(('%d, %d %% hung' % (guests, hung * 100), simulate(
            guests, warmup=warmup, window=window, cap=cap, extra=[],
            repo=repo, hung=hung)))
    if diagnostics:
        for label, extra in DIAGNOSTICS:
            runs.append(('%d, %s' % (TARGET_GUESTS, label), simulate(
                TARGET_GUESTS, warmup=warmup, window=window, cap=cap,
                extra=extra, repo=repo)))
    main = Table(
        'Scale (SIMULATED hypervisor, real monitor): guests hung at once, '
        'probe_interval %d, probe_timeout %d, failure_threshold %d, '
        "libvirtd's max_client_requests %d per connection"
        % (INTERVAL, TIMEOUT, THRESHOLD, SLOTS),
        ['guests', 'hung', 'period median s', 'period p95 s',
         'period max s', 'CPU s / 1000 probes', '% of one core', 'RSS MiB',
         'peak RSS MiB', 'detect median s', 'detect worst s', 'reported',
         'false reports', 'window s'],
        [row(label, result) for label, result in runs],
        [simulated.SIMULATED_NOTE,
         'period: gaps between ping starts of each healthy guest after the '
         'hang began; CPU and detection over the window from the hang '
         '(at least %.0f s, until every hung guest was reported or %.0f s)'
         % (window, cap),
         'the hung guests answered their first pings (warm-up %.0f s), '
         'then all hang at the same moment' % warmup])
    threads = Table(
        'Scale (SIMULATED): CPU seconds in the window, per thread group',
        ['guests', 'monitor (owner)', 'probe-healthy', 'probe-suspect',
         'sender', 'other'],
        [[label] + thread_row(result) for label, result in runs])
    target_run = next(result for label, result in runs
                      if label.startswith('%d, 5 ' % TARGET_GUESTS))
    bound = THRESHOLD * INTERVAL + TIMEOUT + 5
    targets = [
        *[Target('scale (simulated): %s, every hung guest reported within '
                 'threshold x interval + timeout + 5 s' % label,
                 result['detect_max_s'] if result['detected'] ==
                 result['hung'] else float('inf'), bound, ' s')
          for label, result in runs if label.startswith(str(TARGET_GUESTS))],
        *[Target('scale (simulated): %s, healthy period p95' % label,
                 result['period_p95_s'], PERIOD_TARGET * INTERVAL, ' s')
          for label, result in runs if label.startswith(str(TARGET_GUESTS))
          and result is not target_run],
        Target('scale (simulated): %d guests, healthy period p95'
               % TARGET_GUESTS, target_run['period_p95_s'],
               PERIOD_TARGET * INTERVAL, ' s'),
        Target('scale (simulated): %d guests, CPU' % TARGET_GUESTS,
               target_run['core_pct'], CORE_TARGET, ' % of one core'),
        Target('scale (simulated): %d guests, peak resident memory'
               % TARGET_GUESTS, target_run['hwm_mib'], RSS_TARGET, ' MiB'),
    ]
    method = [
        simulated.SIMULATED_NOTE + '.',
        'Each size runs in a fresh interpreter: python -m '
        'benchmarks.simulated --guests N (the guests answer at first; after '
        'the warm-up 5 % or 20 % of them hang at once).',
        'CPU: time.process_time() of the whole process (the simulator '
        'included) over the window; memory: VmRSS and VmHWM from '
        '/proc/self/status; detection: from the moment of the hang to the '
        "notifier's call (through the real Sender and Spool).",
    ]
    return PartResult(
        name='scale', title='Scale, SIMULATED hypervisor', method=method,
        tables=[main, threads], targets=targets,
        data={'runs': [dict(result, label=label) for label, result in runs],
              'warmup_s': warmup, 'window_s': window, 'cap_s': cap},
        seconds=time.monotonic() - started)


def thread_row(result: dict[str, Any]) -> list[str]:
    by_thread = dict(result['cpu_by_thread'])
    cells = [number(by_thread.pop(name, 0.0))
             for name in ('monitor', 'probe-healthy', 'probe-suspect',
                          'sender')]
    return cells + [number(sum(by_thread.values()))]
