"""Run the benchmarks and print the tables.

From the repository root, as root, on the test bed host (Debian 12 with
libvirtd; ``tests/bed`` prepares packages, libvirtd, the guest image and the
masakari / masakari-monitors virtualenvs on first use)::

    python -m benchmarks.run                   # all parts, 3 repetitions
    python -m benchmarks.run --quick           # 1 repetition, short windows
    python -m benchmarks.run --part detection,isolation --reps 5
    python -m benchmarks.run --part scale      # simulated only, no guests
    python -m benchmarks.run --write-doc       # also regenerate
                                               # doc/source/benchmarks.rst
    python -m benchmarks.run --from-results RUN/results.json --write-doc

Parts:

detection  real guests: agent killed, agent hung, kernel panic (and, on guests
           with a balloon heartbeat, kernel panic and agent killed) -> time until
           Masakari lists the notification; ours and upstream
           masakari-monitors 22.0.0, probe_interval 2 and 10; ratio
isolation  real guests: 4 (and 6) of 8 hung at once; achieved probe period
           of the healthy ones; upstream's cycle stretch
scale      SIMULATED hypervisor, real monitor, libvirtd's worker pool
           modelled: 1,000 guests (8, 50 and 200 hung at once) and 5,000
           (none hung): probe period, CPU, memory, detection, calls in
           flight
cost       real guests: CPU and memory of both services watching 8 guests

A full run takes about 30 minutes on two cores. Guests are named
``instance-bench-N`` and destroyed at the end; nothing else is touched.
Logs of every monitor and results.json go to the run directory (--rundir).
"""

import argparse
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks import doc
from benchmarks import machine
from benchmarks import report
from benchmarks.report import PartResult

LOG = logging.getLogger('benchmarks')

REPO = pathlib.Path(__file__).resolve().parent.parent
DOC_PAGE = REPO / 'doc' / 'source' / 'benchmarks.rst'
PARTS = report.PART_ORDER
REAL_PARTS = ('detection', 'isolation', 'cost')
GUESTS = 8


@dataclasses.dataclass(frozen=True)
class Plan:
    parts: tuple[str, ...]
    reps: int
    intervals: list[int]
    seed: int
    quick: bool
    quiet_window: float       # isolation, none hung
    hung_window: float        # isolation, guests hung
    cost_seconds: float
    scale_diagnostics: bool
    wait_for_others: float    # seconds, whole run
    faults: tuple[str, ...] = ()   # detection: these only (default: all)

    def settings(self) -> dict[str, str]:
        facts = {'parts': ', '.join(self.parts),
                 'mode': 'quick' if self.quick else 'full'}
        if 'detection' in self.parts:
            facts['detection'] = (
                '%d repetition(s); probe_interval %s with probe_timeout %s; '
                'failure_threshold 3; random seed %d' % (
                    self.reps, ' and '.join(map(str, self.intervals)),
                    ' and '.join(str({2: 1}.get(i, 2))
                                 for i in self.intervals), self.seed))
        if 'isolation' in self.parts:
            facts['isolation'] = (
                '%d guests, probe_interval 2, probe_timeout 1; windows %.0f '
                's (none hung), %.0f s (hung)' % (GUESTS, self.quiet_window,
                                                  self.hung_window))
        if 'scale' in self.parts:
            facts['scale'] = ('SIMULATED; 1,000 guests with 8, 50 and '
                              '200 hung at once, 5,000 with none; '
                              'probe_interval 10, probe_timeout 2, '
                              "failure_threshold 3; libvirtd's pool of 20 "
                              'workers and 5 calls per connection '
                              'modelled; worker budget 10')
        if 'cost' in self.parts:
            facts['cost'] = ('%d guests, probe_interval 10, probe_timeout '
                             '2, %.0f s' % (GUESTS, self.cost_seconds))
        return facts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m benchmarks.run',
        description=__doc__.split('\n\n')[0],
        epilog='See doc/source/benchmarks.rst.')
    p.add_argument('--part', default=','.join(PARTS),
                   help='comma-separated parts to run (default: all): '
                        + ', '.join(PARTS))
    p.add_argument('--reps', type=int, default=None,
                   help='detection repetitions (default 3, --quick 1)')
    p.add_argument('--quick', action='store_true',
                   help='1 repetition and short windows, for iteration')
    p.add_argument('--intervals', default='2,10',
                   help='detection probe intervals (default 2,10)')
    p.add_argument('--faults', default='',
                   help='detection: comma-separated faults to inject '
                        '(default: all): kill, hang, panic, balloon-panic, '
                        'balloon-kill')
    p.add_argument('--seed', type=int, default=1,
                   help='seed of the random fault delays (default 1)')
    p.add_argument('--scale-diagnostics', action='store_true',
                   help='extra simulated runs: 1,000 guests with 200 hung '
                        'without the worker budget, 5,000 without the '
                        'StateStore')
    p.add_argument('--wait-for-others', type=float, default=300.0,
                   metavar='SECONDS',
                   help='other monitor processes on the host probe our '
                        'guests too: before each measurement wait for them '
                        'to end, at most this long in the whole run '
                        '(default 300); figures taken with them around are '
                        'flagged')
    p.add_argument('--write-doc', action='store_true',
                   help='regenerate doc/source/benchmarks.rst')
    p.add_argument('--from-results', type=pathlib.Path, default=None,
                   help='print (and with --write-doc, publish) the results '
                        'of an earlier run instead of running')
    p.add_argument('--rundir', type=pathlib.Path, default=None,
                   help='where logs and results.json go (default: '
                        '/tmp/mi-bench-<date>)')
    p.add_argument('-v', '--verbose', action='store_true')
    return p


def make_plan(args: argparse.Namespace) -> Plan:
    parts = tuple(part.strip() for part in args.part.split(',')
                  if part.strip())
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise SystemExit('unknown part(s): %s (choose from %s)'
                         % (', '.join(unknown), ', '.join(PARTS)))
    return Plan(
        parts=tuple(part for part in PARTS if part in parts),
        reps=args.reps if args.reps is not None else (1 if args.quick
                                                      else 3),
        intervals=[int(i) for i in args.intervals.split(',') if i.strip()],
        faults=tuple(f.strip() for f in args.faults.split(',') if f.strip()),
        seed=args.seed, quick=args.quick,
        quiet_window=10.0 if args.quick else 15.0,
        hung_window=20.0 if args.quick else 30.0,
        cost_seconds=30.0 if args.quick else 90.0,
        scale_diagnostics=args.scale_diagnostics,
        wait_for_others=args.wait_for_others)


def attempt(name: str, part: Callable[[], PartResult]) -> PartResult | None:
    """Run one part; a part that breaks is logged and the others still run."""
    try:
        return part()
    except Exception:
        LOG.exception('part %s failed', name)
        return None


def save(path: pathlib.Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=1, default=str))


def run_parts(plan: Plan, rundir: pathlib.Path,
              results: dict[str, Any]) -> list[PartResult]:
    done: list[PartResult] = []

    def finished(part: PartResult | None) -> None:
        if part is None:
            return
        # Other people's guests share the two cores: say how busy it was.
        part.tables[0].notes.append(
            'host load average at the end of the part: %.1f (1 min), %.1f '
            '(5 min), on %s cores' % (*os.getloadavg()[:2], os.cpu_count()))
        done.append(part)
        results['parts'] = [dataclasses.asdict(p) for p in done]
        save(rundir / 'results.json', results)
        print('\n'.join(table.text() + '\n' for table in part.tables),
              flush=True)
        LOG.info('part %s took %.0f s', part.name, part.seconds)

    # The simulation first, while no guest of ours loads the machine.
    if 'scale' in plan.parts:
        from benchmarks import scale
        finished(attempt('scale', lambda: scale.run(
            repo=REPO, quick=plan.quick,
            diagnostics=plan.scale_diagnostics)))
    if not any(part in plan.parts for part in REAL_PARTS):
        return done

    from benchmarks import bed as bedlib

    with bedlib.open_bed(rundir, GUESTS) as bed:
        bed.foreign_wait_left = plan.wait_for_others
        if 'detection' in plan.parts:
            from benchmarks import detection
            finished(attempt('detection', lambda: detection.run(
                bed, intervals=plan.intervals, reps=plan.reps,
                faults=plan.faults or None,
                seed=plan.seed)))
        if 'isolation' in plan.parts:
            from benchmarks import isolation
            finished(attempt('isolation', lambda: isolation.run(
                bed, quiet_window=plan.quiet_window,
                hung_window=plan.hung_window)))
        if 'cost' in plan.parts:
            from benchmarks import cost
            finished(attempt('cost', lambda: cost.run(
                bed, duration=plan.cost_seconds)))
        results['incidents'] = list(bed.incidents)
    # Keep the order of PARTS in the tables and the page.
    return sorted(done, key=lambda part: PARTS.index(part.name))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format='%(asctime)s %(name)s %(message)s', datefmt='%H:%M:%S')
    if args.from_results is not None:
        results = json.loads(args.from_results.read_text())
    else:
        if os.geteuid() != 0:
            print('the benchmarks need root (libvirtd, QEMU guests)',
                  file=sys.stderr)
            return 2
        plan = make_plan(args)
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        rundir = (args.rundir or pathlib.Path('/tmp/mi-bench-' + stamp))
        rundir.mkdir(parents=True, exist_ok=True)
        LOG.info('run directory: %s', rundir)
        started = time.monotonic()
        results = {'machine': machine.facts(REPO),
                   'settings': plan.settings(), 'parts': []}
        run_parts(plan, rundir, results)
        results['runtime_s'] = time.monotonic() - started
        results['settings']['runtime'] = '%.1f min' % (
            results['runtime_s'] / 60)
        save(rundir / 'results.json', results)
    parts = report.load_parts(results['parts'])
    # A live run printed each part's tables as it finished.
    print(report.run_text(results['machine'], results['settings'], parts,
                          with_tables=args.from_results is not None))
    for incident in results.get('incidents', []):
        print('incident: %s' % incident)
    targets = [target for part in parts for target in part.targets]
    if targets:
        met = sum(1 for target in targets if target.met)
        print('%d of %d targets met' % (met, len(targets)))
    print('total runtime: %.1f min' % (results.get('runtime_s', 0) / 60))
    if args.write_doc:
        doc.write(DOC_PAGE, results)
        print('wrote %s' % DOC_PAGE)
    return 0


if __name__ == '__main__':
    sys.exit(main())
