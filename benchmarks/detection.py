"""Detection part (real guests): fault -> notification visible in Masakari.

For each probe interval and repetition, ours and upstream run one after the
other (never at the same time: libvirt serialises agent calls per domain),
in alternating order, each as a fresh process: a fresh process gives both a
fair first detection (upstream re-arms only on a STARTED event). Per
episode:

1. the three fault guests answer their agent; Masakari's notification table
   is emptied;
2. the monitor starts and has had an answer from each of them (ours logs
   ``-> healthy``; upstream, which ignores a guest until its first answer,
   logs the answer through the shim);
3. for each fault in turn (agent killed, agent hung, kernel panic), after a
   random delay in [0, interval) so that the fault falls anywhere in the
   probe cycle: inject the fault from inside the guest, poll
   ``GET /v1/notifications`` every 0.2 s until the guest's notification is
   listed, undo the fault (heal; a panicked guest is destroyed at once and
   booted again) and wait until the monitor saw the healed guest answer.
"""

import dataclasses
import logging
import random
import time

from tests.bed.guest import Guest
from tests.bed.service import MonitorProcess
from tests.bed.upstream import UpstreamMonitor

from benchmarks import bed as bedlib
from benchmarks import observe
from benchmarks import stats
from benchmarks.report import PartResult
from benchmarks.tables import Table
from benchmarks.tables import Target
from benchmarks.tables import seconds

LOG = logging.getLogger(__name__)

MONITORS = ('ours', 'upstream')
TIMEOUTS = {2: 1, 10: 2}      # probe_timeout used with each interval
THRESHOLD = 3
RATIO_TARGET = 0.35
PANIC_TARGET = 4.0    # s, median, kernel panic on a balloon guest (period 1)


@dataclasses.dataclass
class Sample:
    monitor: str
    interval: int
    timeout: int
    fault: str
    rep: int
    seconds: float | None       # None: no notification within the limit
    limit: float
    contention: list[str]


def notification_limit(interval: int, timeout: int) -> float:
    """Generous: upstream needs threshold + 2 misses of up to max(I, 5) s."""
    return timeout + (THRESHOLD + 2) * max(interval, 5) + interval + 30


def run_episode(bed: bedlib.Bed, monitor: str, interval: int, rep: int,
                guests: dict[str, Guest], rng: random.Random,
                samples: list[Sample],
                faults: tuple[str, ...] = bedlib.FAULTS) -> None:
    """One fresh monitor process, the three faults in turn; appends to
    ``samples`` as it goes."""
    timeout = TIMEOUTS.get(interval, 2)
    targets = [guests[fault] for fault in faults]
    bed.ensure_healthy(targets)
    contention = bed.quiet()
    bed.api.reset()
    name = 'detect-%s-i%d-r%d' % (monitor, interval, rep)
    settle = 3 * interval + 60
    limit = notification_limit(interval, timeout)
    process: MonitorProcess | UpstreamMonitor
    if monitor == 'ours':
        process = ours = bed.ours(name, interval=interval, timeout=timeout)
        ours.start()

        def seen_healthy(guests: list[Guest], after: int | None) -> None:
            bedlib.wait_seen_healthy_ours(ours, guests, after, settle)

        def mark() -> int:
            return ours.mark()
    else:
        process = upstream = bed.upstream(name, interval=interval,
                                          timeout=timeout)
        upstream.start()

        def seen_healthy(guests: list[Guest], after: int | None) -> None:
            bedlib.wait_seen_healthy_upstream(upstream, guests, after or 0,
                                              settle)

        def mark() -> int:
            return observe.file_size(upstream.log_path)
    first = len(samples)
    try:
        seen_healthy(targets, None)
        for fault in faults:
            guest = guests[fault]
            time.sleep(rng.uniform(0, interval))
            try:
                happened = bedlib.inject(guest, fault)
                visible = bed.wait_notification(guest.uuid, limit)
                after = mark()
                bedlib.recover(guest, fault)
            except Exception:
                # One broken guest must not end a half-hour run.
                LOG.exception('%s, interval %d, %s: measurement failed',
                              monitor, interval, fault)
                bed.ensure_healthy([guest])
                continue
            took = None if visible is None else visible - happened
            LOG.info('%s, interval %d, %s: %s', monitor, interval, fault,
                     'not reported within %.0f s' % limit if took is None
                     else '%.1f s' % took)
            samples.append(Sample(monitor, interval, timeout, fault, rep,
                                  took, limit, contention))
            if bedlib.FAULT_COMMANDS[fault] != 'panic':
                seen_healthy([guest], after)
    finally:
        bed.stop(process)
        # Whatever else ran meanwhile counts for the whole episode.
        late = bedlib.foreign_activity(bed.rundir)
        for sample in samples[first:]:
            sample.contention = sorted(set(sample.contention) | set(late))


def summarise(samples: list[Sample], intervals: list[int],
              faults: tuple[str, ...] = bedlib.FAULTS
              ) -> tuple[list[Table], list[Target]]:
    rows = []
    targets = []
    for interval in intervals:
        for fault in faults:
            cells = ['%d / %d' % (interval, TIMEOUTS.get(interval, 2)),
                     bedlib.FAULT_LABELS[fault]]
            medians = {}
            for monitor in MONITORS:
                mine = [s for s in samples if s.monitor == monitor
                        and s.interval == interval and s.fault == fault]
                found = [s.seconds for s in mine if s.seconds is not None]
                medians[monitor] = stats.median(found)
                worst = seconds(stats.worst(found))
                if len(found) < len(mine):
                    worst = '> %.0f' % mine[0].limit
                cells += [seconds(medians[monitor]), worst,
                          '%d/%d' % (len(found), len(mine))]
            ratio = stats.ratio(medians['ours'], medians['upstream'])
            cells.append('-' if ratio is None else '%.2f' % ratio)
            rows.append(cells)
            label = bedlib.FAULT_LABELS[fault]
            if fault == 'balloon-kill':
                # Agent lost, kernel alive: ours must not report it.
                ours = [s for s in samples if s.monitor == 'ours'
                        and s.interval == interval and s.fault == fault]
                targets.append(Target(
                    'interval %d, %s: reported by ours (agent lost, kernel '
                    'alive: none)' % (interval, label),
                    sum(1 for s in ours if s.seconds is not None)
                    if ours else None, 0))
                continue
            if fault == 'balloon-panic':
                targets.append(Target(
                    'interval %d, %s: ours median (kernel heartbeat)'
                    % (interval, label), medians['ours'],
                    PANIC_TARGET, ' s'))
            targets.append(Target('detection ratio ours/upstream, '
                                  'interval %d, %s' % (interval, label),
                                  ratio, RATIO_TARGET))
    table = Table(
        'Detection: fault -> notification visible in masakari-api (s), '
        'real guests',
        ['interval / timeout', 'fault', 'ours median', 'ours worst',
         'ours n', 'upstream median', 'upstream worst', 'upstream n',
         'ratio of medians'],
        rows,
        ['failure_threshold %d for both; upstream (masakari-monitors '
         '22.0.0) reports on threshold + 2 misses' % THRESHOLD,
         'n: notifications seen / faults injected; worst "> N": at least '
         'one fault not reported within N s',
         'target: ratio of medians <= %.2f' % RATIO_TARGET,
         'balloon period 1: the guest has a virtio balloon with statistics '
         'every 1 s (ours reads the kernel heartbeat); a killed agent there '
         'should not be reported by ours (agent lost, kernel alive): its '
         'worst "> N" is the expected result; target for the panic there: '
         'ours median <= %.0f s' % PANIC_TARGET], labels=2)
    return [table], targets


def run(bed: bedlib.Bed, *, intervals: list[int], reps: int,
        seed: int, faults: tuple[str, ...] | None = None) -> PartResult:
    """``faults``: these only (default: every one of ``bedlib.FAULTS``)."""
    faults = faults or bedlib.FAULTS
    unknown = set(faults) - set(bedlib.FAULTS)
    if unknown:
        raise ValueError('unknown faults: %s' % ', '.join(sorted(unknown)))
    started = time.monotonic()
    rng = random.Random(seed)
    guests = dict(zip(bedlib.FAULTS, bed.guests, strict=False))
    samples: list[Sample] = []
    for interval in intervals:
        for rep in range(reps):
            order = MONITORS if rep % 2 == 0 else tuple(reversed(MONITORS))
            for monitor in order:
                try:
                    run_episode(bed, monitor, interval, rep, guests, rng,
                                samples, faults)
                except Exception:
                    LOG.exception('%s, interval %d, repetition %d: episode '
                                  'failed', monitor, interval, rep)
                    bed.incidents.append(
                        '%s, interval %d, repetition %d: episode failed '
                        '(see the log)' % (monitor, interval, rep))
    tables, targets = summarise(samples, intervals, faults)
    contention = sorted({item for s in samples for item in s.contention})
    if contention:
        shared = sum(1 for s in samples
                     if any(item.startswith('monitor') for item in
                            s.contention))
        tables[0].notes.append(
            'other activity on the host during the part: %s; %d of %d '
            'faults were measured while another monitor process probed '
            'our guests too' % (', '.join(contention), shared, len(samples)))
    method = [
        'Real guests (QEMU/TCG, real qemu-ga) on libvirtd, a real '
        'masakari-api; faults injected from inside a guest: qemu-ga '
        'SIGKILLed, qemu-ga SIGSTOPped, kernel panic (sysrq c, panic=0, '
        'no pvpanic); the last two guests have a virtio balloon with '
        'statistics every 1 s (the kernel heartbeat): kernel panic and '
        'qemu-ga SIGKILLed there.',
        'Ours (the installed masakari-introspect) and upstream '
        '(masakari-monitors 22.0.0, its own virtualenv, instrumented with '
        'one log line per ping) run one after the other with the same '
        'probe_interval, probe_timeout and failure_threshold, each as a '
        'fresh process per repetition, in alternating order.',
        'Before each fault the monitor has had an answer from the guest; '
        'the fault comes after a random delay in [0, interval); the time '
        'is taken from the fault to the moment GET /v1/notifications '
        '(polled every 0.2 s) lists the guest.',
        'What the settings predict for our monitor: the formula of '
        ':ref:`time-to-detect` in the design, stated there once.',
    ]
    return PartResult(
        name='detection', title='Detection time, real guests',
        method=method, tables=tables, targets=targets,
        data={'samples': [dataclasses.asdict(s) for s in samples],
              'reps': reps, 'intervals': intervals, 'seed': seed},
        seconds=time.monotonic() - started)
