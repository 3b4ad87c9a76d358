"""Scale part -- SIMULATED hypervisor, real monitor.

What is real: :class:`masakari_introspect.runtime.monitor.Monitor` (owner thread,
probe lanes, state machine), :class:`~masakari_introspect.runtime.scheduler.Clockwork`
(APScheduler ticks), :class:`~masakari_introspect.recovery.sender.Sender` with its
durable :class:`~masakari_introspect.recovery.spool.Spool`, and the
:class:`~masakari_introspect.runtime.store.StateStore`, i.e. the whole service except
libvirt and HTTP.

What is simulated: the hypervisor seam (``list_domains``, ``domain_info``,
``ping``) and the Masakari notifier. The simulated ping takes the times
measured on the test bed: a healthy guest-ping answers in
``ping_seconds`` (1.6 ms, ``time.sleep`` releases the GIL as the libvirt
binding does); a hung agent answers nothing: its first call fails after the
probe timeout, every later call after 5 s (libvirt's ``guest-sync``), with
:attr:`Outcome.MISS`. libvirtd's worker pool (``max_workers``, shared with the
statistics call) and its per-connection limit are modelled
(:mod:`benchmarks.workers`); the monitor's lanes are sized from its worker
budget as the service sizes them. The notifier records the time it was
called and accepts.

Each size runs in a fresh interpreter so that memory figures are clean::

    python -m benchmarks.simulated --guests 1000 --hung 50 --json

prints one JSON object (see :class:`ScaleResult`).
"""

import argparse
import cProfile
import dataclasses
import io
import itertools
import json
import logging
import os
import pathlib
import pstats
import re
import sys
import tempfile
import threading
import time
from array import array

from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.app_run import NEEDED
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.runtime.budget import Budget
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.model import Activity
from masakari_introspect.runtime.monitor import Monitor
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.runtime.scheduler import Clockwork
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from masakari_introspect.runtime.store import StateStore
from masakari_introspect.core.model import Phase
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.core.policy import Settings
from masakari_introspect.core.tracker import Policy

from benchmarks import stats
from benchmarks.workers import Connections
from benchmarks.workers import Libvirtd

LOG = logging.getLogger('benchmarks.simulated')

HEALTHY_PING_SECONDS = 0.0016   # median guest-ping round trip on the bed
RESYNC_SECONDS = 5.0            # libvirt's guest-sync wait after a timeout
NOT_ANSWERING = 'Guest agent not available for now (code 86, domain 10)'
# Before the worker budget: 48 + 2 connections, lanes of up to 256.
OLD_LANES = ((48, 256), (2, 256))
SIMULATED_NOTE = ('SIMULATED: real Monitor, Clockwork, Sender, Spool and '
                  'StateStore; simulated hypervisor (healthy ping %.1f ms, '
                  'hung agent: timeout, then %.0f s per call; libvirtd\'s '
                  'worker pool and per-connection limit) and notifier'
                  % (HEALTHY_PING_SECONDS * 1000, RESYNC_SECONDS))


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process's threads, per thread group.

    Threads are grouped by their Python name without a trailing number
    (``probe-healthy-7`` counts as ``probe-healthy``).
    """
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    tick = os.sysconf('SC_CLK_TCK')
    usage: dict[str, float] = {}
    for task in pathlib.Path('/proc/self/task').iterdir():
        try:
            stat = (task / 'stat').read_text()
        except OSError:
            continue   # the thread ended meanwhile
        fields = stat.rsplit(')', 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        name = re.sub(r'[-_]\d+$', '', names.get(int(task.name), 'other'))
        usage[name] = usage.get(name, 0.0) + seconds
    return usage


def proc_status_kib(field: str) -> int:
    """A ``VmRSS``-style field of /proc/self/status, in KiB."""
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'):
            return int(line.split()[1])
    raise KeyError(field)


class SimulatedHypervisor:
    """The monitor's hypervisor seam, with the bed's measured timings.

    Records the start time of every ping; from ``measure_from`` on, the gap
    between two ping starts of one healthy guest is kept as its achieved
    probe period.
    """

    def __init__(self, guests: int, hung: int, *,
                 ping_seconds: float = HEALTHY_PING_SECONDS,
                 resync_seconds: float = RESYNC_SECONDS,
                 workers: int = 0, heartbeat_period: int = 0,
                 dead_kernels: bool = False) -> None:
        self.uuids = ['00000000-0000-4000-8000-%012d' % i
                      for i in range(guests)]
        # Spread the hung ones over the list, as on a real host.
        step = guests // hung if hung else 0
        self.hung = frozenset(self.uuids[i * step] for i in range(hung))
        self._ids = {uuid: i + 1 for i, uuid in enumerate(self.uuids)}
        self._ping_seconds = ping_seconds
        self._resync_seconds = resync_seconds
        self._hang_at: float | None = None
        self._synced_once: set[str] = set()   # hung agents already timed out
        self._last_start: dict[str, float] = {}
        self.measure_from = float('inf')
        self.measure_until = float('inf')
        self.periods = array('d')             # healthy guests only
        self._counter = itertools.count(1)    # next() is atomic in CPython
        self.probes = 0                       # pings started so far
        self.libvirtd = Libvirtd(workers)     # 0: no pool modelled
        self._app_counter = itertools.count(1)
        self.app_calls = 0                    # application probes' calls
        # The balloon heartbeat (0: none): every guest's stamp moves each
        # period; with dead_kernels the hung guests' kernels die at the hang
        # (their stamp stops and their agent answers nothing).
        self.heartbeat_period = heartbeat_period
        self.dead_kernels = dead_kernels
        self._frozen: int | None = None       # the dead kernels' last stamp
        self.dead_pings: list[tuple[str, float]] = []   # after the hang
        self.guest_samples = 0    # calls of a few guests (late heartbeats)

    def prober(self, slots: int, connections: int) -> Connections:
        """A lane's prober: ``connections`` with ``slots`` calls each."""
        return Connections(self.libvirtd, self._ping, slots, connections)

    # -- application probes (AgentExec), through the same libvirtd model ------

    def _agent(self, uuid: str, reply: ExecReply) -> ExecReply:
        def call(uuid: str, timeout: int) -> ExecReply:
            self.app_calls = next(self._app_counter)
            if uuid in self.hung and self._hang_at is not None:
                time.sleep(timeout)
                return ExecReply(ReplyKind.UNAVAILABLE)
            time.sleep(self._ping_seconds)
            return reply
        return self.libvirtd.agent_call(call, uuid, 2)   # type: ignore

    def info(self, uuid: str) -> ExecReply:
        commands = AgentCommands(frozenset(NEEDED))
        return self._agent(uuid, ExecReply(ReplyKind.INFO,
                                           commands=commands))

    def start(self, uuid: str, argv: tuple[str, ...]) -> ExecReply:
        return self._agent(uuid, ExecReply(ReplyKind.STARTED, pid=1))

    def status(self, uuid: str, pid: int) -> ExecReply:
        return self._agent(uuid, ExecReply(ReplyKind.EXITED, exit_code=0))

    def hang(self) -> float:
        """From now on the hung guests' agents answer nothing."""
        self._hang_at = time.monotonic()
        self._frozen = self._stamp() if self.heartbeat_period else None
        return self._hang_at

    def _stamp(self) -> int:
        """QEMU's stamp of the last statistics answer: its host wall clock,
        whole seconds, every period."""
        now = int(time.time())
        return now - now % self.heartbeat_period

    def _info(self, uuid: str) -> DomainInfo:
        return DomainInfo(uuid=uuid, name='instance-%08x' % self._ids[uuid],
                          running=True, has_agent_channel=True,
                          domain_id=self._ids[uuid])

    # -- the Hypervisor protocol of masakari_introspect.runtime.hypervisor ----------

    def list_domains(self) -> list[DomainInfo]:
        return [self._info(uuid) for uuid in self.uuids]

    def domain_info(self, uuid: str) -> DomainInfo | None:
        return self._info(uuid) if uuid in self._ids else None

    def ping(self, uuid: str, timeout: int, osinfo: bool = False
             ) -> ProbeResult:
        return self.libvirtd.agent_call(self._ping, uuid, timeout)

    def activity(self) -> list[Activity]:
        """No guest does disk or network work: the agent alone decides."""
        return self._activity(self.uuids)

    def guests_activity(self, uuids: tuple[str, ...]) -> list[Activity]:
        """The same, of these guests only."""
        self.guest_samples += 1
        return self._activity([u for u in uuids if u in self._ids])

    def _activity(self, uuids: list[str] | tuple[str, ...]
                  ) -> list[Activity]:
        if not self.heartbeat_period:
            return self.libvirtd.statistics_call(
                lambda: [Activity(uuid, 0, 0) for uuid in uuids])

        def sample() -> list[Activity]:
            live, period = self._stamp(), self.heartbeat_period
            dead = self._frozen if self.dead_kernels else None
            return [Activity(uuid, 0, 0, heartbeat=dead if dead is not None
                             and uuid in self.hung else live,
                             heartbeat_period=period)
                    for uuid in uuids]
        return self.libvirtd.statistics_call(sample)

    def vcpus(self) -> dict[str, tuple[tuple[int, int], ...]]:
        """No guest is starved: every vCPU runs and waits for nothing."""
        return self.libvirtd.statistics_call(
            lambda: {uuid: ((0, 0),) for uuid in self.uuids})

    def _ping(self, uuid: str, timeout: int) -> ProbeResult:
        started = time.monotonic()
        self.probes = next(self._counter)
        previous = self._last_start.get(uuid)
        self._last_start[uuid] = started
        hung = (uuid in self.hung and self._hang_at is not None
                and started >= self._hang_at)
        if hung:
            self.dead_pings.append((uuid, started))
            if uuid in self._synced_once:
                time.sleep(self._resync_seconds)
            else:
                self._synced_once.add(uuid)
                time.sleep(timeout)
            return ProbeResult(uuid, Outcome.MISS, NOT_ANSWERING,
                               duration=time.monotonic() - started,
                               error_code=86)
        if previous is not None and self.measure_from <= previous \
                < self.measure_until and uuid not in self.hung:
            self.periods.append(started - previous)
        time.sleep(self._ping_seconds)
        return ProbeResult(uuid, Outcome.OK,
                           duration=time.monotonic() - started)


class RecordingNotifier:
    """Stands in for masakari-api: accepts everything, notes when (the
    outbox's recovery driver protocol)."""

    name = 'Simulated Masakari'

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.reasons: dict[str, str] = {}
        self._lock = threading.Lock()

    def begin(self, notification: Notification) -> str:
        return ''

    def send(self, notification: Notification) -> DeliveryResult:
        with self._lock:
            self.sent.setdefault(notification.instance_uuid, time.monotonic())
            self.reasons.setdefault(notification.instance_uuid,
                                    notification.reason or '')
        return DeliveryResult(Delivery.DELIVERED, 201, '')

    def settled(self, notification: Notification, token: str
                ) -> DeliveryResult | None:
        return None


@dataclasses.dataclass
class ScaleResult:
    guests: int
    hung: int
    probe_interval: float
    probe_timeout: int
    failure_threshold: int
    warmup_s: float
    window_s: float
    healthy_at_hang: int          # guests in phase healthy when the hang began
    probes: int                   # pings started during the window
    cpu_s: float                  # process CPU seconds during the window
    cpu_s_per_1000_probes: float | None
    core_pct: float               # CPU seconds / wall seconds * 100
    rss_mib: float                # VmRSS at the end of the window
    hwm_mib: float                # VmHWM (peak RSS) of the process
    baseline_rss_mib: float       # VmRSS after imports, before the monitor
    period_samples: int
    period_median_s: float | None
    period_p95_s: float | None
    period_max_s: float | None
    detected: int
    detect_median_s: float | None
    detect_max_s: float | None
    false_reports: int            # notifications for guests that never hung
    connection_slots: int         # simulated max_client_requests, 0: none
    max_workers: int              # simulated libvirtd max_workers, 0: none
    budget: int                   # agent calls at once (0: no budget)
    healthy_lane: int             # threads of the healthy lane
    suspect_lane: int             # threads of the suspect lane
    max_in_flight: int            # agent calls inside libvirtd at once
    worker_wait_max_s: float      # an agent call waited for a worker
    stats_wait_max_s: float       # the statistics call waited for one
    state_store: bool             # the monitor ran with its StateStore
    heartbeat_period: int         # balloon statistics period, 0: none
    dead_kernels: bool            # the hung guests' kernels died
    # agent calls to hung guests started after the heartbeat went stale
    # (2 x period + 1 s after the hang, plus one interval for the sample
    # to see it) and after their report
    dead_calls_after_stale: int
    dead_calls_after_report: int
    dead_reasons: dict[str, int]  # reasons the hung guests were reported
    cpu_by_thread: dict[str, float]   # CPU seconds in the window per group
    owner_profile: str = ''       # cProfile of the owner thread, if asked
    note: str = SIMULATED_NOTE
    app_every: int = 0            # an application probe every N intervals
    app_calls: int = 0            # its agent calls during the window


def phases(monitor: Monitor) -> dict[str, int]:
    """Count the monitor's records per phase (read on its owner thread)."""
    counts: dict[str, int] = {}
    for record in monitor.query(monitor.snapshot).result(timeout=60):
        counts[record.label] = counts.get(record.label, 0) + 1
    return counts


def lanes(budget: Budget | None, slots: int
          ) -> tuple[tuple[int, int], tuple[int, int]]:
    """(threads, connections) of the healthy and the suspect lane, as the
    service sizes them; without a budget, as it did before."""
    if budget is None:
        (healthy_conns, healthy_size), (suspect_conns, suspect_size) = \
            OLD_LANES
        per = slots or healthy_size
        return ((min(per * healthy_conns, healthy_size), healthy_conns),
                (min(per * suspect_conns, suspect_size), suspect_conns))
    healthy, suspect = budget.connections(max(slots, 1))
    return (budget.healthy, healthy), (budget.suspect, suspect)


def run(guests: int, hung: int, *, interval: float, timeout: int,
        threshold: int, warmup: float, window: float,
        cap: float, workdir: pathlib.Path, connection_slots: int = 0,
        workers: int = 0, budget: Budget | None = None,
        profile_owner: bool = False, use_store: bool = True,
        app_every: int = 0, heartbeat_period: int = 0,
        dead_kernels: bool = False) -> ScaleResult:
    baseline_rss = proc_status_kib('VmRSS')
    hypervisor = SimulatedHypervisor(guests, hung, workers=workers,
                                     heartbeat_period=heartbeat_period,
                                     dead_kernels=dead_kernels)
    notifier = RecordingNotifier()
    sender = Sender(Spool(workdir / 'spool', max(guests, 100)), notifier,
                    retry_interval=1, retry_interval_max=5)
    fleet = Fleet(
        Policy(failure_threshold=threshold, boot_grace_period=120,
               probe_interval=interval,
               probes=(AppProbe('app', ('/bin/true',), timeout=5,
                                every=app_every),) if app_every else (),
               kernel_heartbeat=heartbeat_period > 0),
        Settings(hostname='simulated-host', probe_timeout=timeout,
                 probe_deadline=timeout + 10 + 2 * interval),
        clock=time.monotonic, wall=time.time)
    (healthy_lane, healthy_conns), (suspect_lane, suspect_conns) = \
        lanes(budget, connection_slots)
    monitor = Monitor(
        hypervisor, fleet, sender, probe_timeout=timeout,
        lane_size=healthy_lane, suspect_lane_size=suspect_lane,
        prober=hypervisor.prober(connection_slots, healthy_conns),
        suspect_prober=hypervisor.prober(connection_slots, suspect_conns),
        store=StateStore(workdir / 'instances.json') if use_store else None,
        agent_exec=hypervisor if app_every else None,
        app_slots=budget.application if budget else 1)
    clockwork = Clockwork(probe_interval=interval, resync_interval=300,
                          on_tick=monitor.tick, on_resync=monitor.resync)
    # The order of Service.run().
    sender.start()
    monitor.start()
    monitor.resync()
    clockwork.start()
    try:
        time.sleep(warmup)
        healthy = phases(monitor).get(Phase.HEALTHY.value, 0)
        LOG.info('%d of %d guests healthy after %.0f s of warm-up', healthy,
                 guests, warmup)
        profile = cProfile.Profile() if profile_owner else None
        if profile is not None:    # enabled on the owner thread
            monitor.query(profile.enable).result(timeout=60)
        hang_at = hypervisor.hang()
        hypervisor.measure_from = hang_at
        # The healthy period over the three intervals after the hang.
        hypervisor.measure_until = hang_at + 3 * interval
        threads0 = thread_cpu_seconds()
        cpu0, probes0 = time.process_time(), hypervisor.probes
        app_calls0 = hypervisor.app_calls
        while True:
            time.sleep(0.5)
            elapsed = time.monotonic() - hang_at
            all_found = all(uuid in notifier.sent for uuid in hypervisor.hung)
            if (elapsed >= window and all_found) or elapsed >= cap:
                break
        cpu = time.process_time() - cpu0
        probes = hypervisor.probes - probes0
        app_calls = hypervisor.app_calls - app_calls0
        threads1 = thread_cpu_seconds()
        if profile is not None:
            monitor.query(profile.disable).result(timeout=60)
        wall = time.monotonic() - hang_at
        rss = proc_status_kib('VmRSS')
        hwm = proc_status_kib('VmHWM')
    finally:
        clockwork.stop()
        monitor.stop(1.0)
        sender.stop(1.0)
    periods = list(hypervisor.periods)
    detections = [notifier.sent[uuid] - hang_at
                  for uuid in hypervisor.hung if uuid in notifier.sent]
    false_reports = sum(1 for uuid in notifier.sent
                        if uuid not in hypervisor.hung)
    stale_at = hang_at + 2 * heartbeat_period + 1 + interval
    dead_calls = list(hypervisor.dead_pings)
    after_stale = sum(1 for _u, t in dead_calls if t > stale_at) \
        if dead_kernels else 0
    after_report = sum(1 for u, t in dead_calls
                       if u in notifier.sent and t > notifier.sent[u])
    reasons: dict[str, int] = {}
    for reason in notifier.reasons.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    by_thread = {name: round(seconds - threads0.get(name, 0.0), 2)
                 for name, seconds in sorted(threads1.items())}
    report = ''
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats('cumulative') \
            .print_stats(25)
        report = out.getvalue()
    return ScaleResult(
        guests=guests, hung=hung, probe_interval=interval,
        probe_timeout=timeout, failure_threshold=threshold,
        warmup_s=warmup,
        window_s=round(wall, 1), healthy_at_hang=healthy, probes=probes,
        cpu_s=round(cpu, 2),
        cpu_s_per_1000_probes=cpu / probes * 1000 if probes else None,
        core_pct=cpu / wall * 100,
        rss_mib=rss / 1024, hwm_mib=hwm / 1024,
        baseline_rss_mib=baseline_rss / 1024,
        period_samples=len(periods),
        period_median_s=stats.median(periods),
        period_p95_s=stats.percentile(periods, 95),
        period_max_s=stats.worst(periods),
        detected=len(detections),
        detect_median_s=stats.median(detections),
        detect_max_s=stats.worst(detections),
        false_reports=false_reports, connection_slots=connection_slots,
        max_workers=workers, budget=budget.total if budget else 0,
        healthy_lane=healthy_lane, suspect_lane=suspect_lane,
        max_in_flight=hypervisor.libvirtd.max_in_flight,
        worker_wait_max_s=round(hypervisor.libvirtd.worker_wait_max, 3),
        stats_wait_max_s=round(hypervisor.libvirtd.stats_wait_max, 3),
        state_store=use_store,
        heartbeat_period=heartbeat_period, dead_kernels=dead_kernels,
        dead_calls_after_stale=after_stale,
        dead_calls_after_report=after_report, dead_reasons=reasons,
        cpu_by_thread=by_thread, owner_profile=report,
        app_every=app_every, app_calls=app_calls)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='python -m benchmarks.simulated',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--guests', type=int, required=True)
    p.add_argument('--hung', type=int, default=0,
                   help='guests that hang at once after the warm-up')
    p.add_argument('--interval', type=float, default=10.0)
    p.add_argument('--timeout', type=int, default=2)
    p.add_argument('--threshold', type=int, default=3)
    p.add_argument('--max-workers', type=int, default=20,
                   help="model libvirtd's worker pool of this many threads "
                        '(0: no pool modelled)')
    p.add_argument('--worker-share', type=float, default=0.5,
                   help='[libvirt] worker_share: the monitor\'s budget')
    p.add_argument('--no-budget', action='store_true',
                   help='diagnostic: lanes sized as before the worker '
                        'budget (48 + 2 connections)')
    p.add_argument('--warmup', type=float, default=None,
                   help='seconds before the hang (default: 2.5 intervals)')
    p.add_argument('--window', type=float, default=60.0,
                   help='seconds measured after the hang began, at least')
    p.add_argument('--cap', type=float, default=None,
                   help='stop at this many seconds after the hang even if '
                        'not every hung guest was reported (default: '
                        '3 x window)')
    p.add_argument('--connection-slots', type=int, default=5,
                   help="model libvirtd's max_client_requests: at most this "
                        'many pings at once per connection (0: no limit)')
    p.add_argument('--no-store', action='store_true',
                   help='diagnostic: run the monitor without its StateStore')
    p.add_argument('--heartbeat-period', type=int, default=0,
                   help='balloon statistics period of every guest (0: no '
                        'kernel heartbeat)')
    p.add_argument('--dead-kernels', action='store_true',
                   help='the hung guests\' kernels die (their heartbeat '
                        'stops); needs --heartbeat-period')
    p.add_argument('--profile-owner', action='store_true',
                   help="cProfile the monitor's owner thread in the window")
    p.add_argument('--app-every', type=int, default=0,
                   help='give every guest an application probe every this '
                        'many intervals (0: none)')
    p.add_argument('--json', action='store_true',
                   help='print the result as one JSON object')
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with tempfile.TemporaryDirectory(
            prefix='mi-bench-sim-', ignore_cleanup_errors=True) as tmp:
        workdir = pathlib.Path(tmp)
        logging.basicConfig(
            level=logging.INFO, filename=str(workdir / 'monitor.log'),
            format='%(asctime)s %(process)d %(levelname)s %(name)s '
                   '%(message)s')
        budget = None if args.no_budget else Budget.of(
            args.max_workers or 20, args.worker_share)
        result = run(args.guests, args.hung,
                     interval=args.interval, timeout=args.timeout,
                     threshold=args.threshold,
                     warmup=args.warmup if args.warmup is not None
                     else 2.5 * args.interval,
                     window=args.window,
                     cap=args.cap if args.cap is not None else 3 * args.window,
                     workdir=workdir, connection_slots=args.connection_slots,
                     workers=args.max_workers, budget=budget,
                     profile_owner=args.profile_owner,
                     use_store=not args.no_store,
                     app_every=args.app_every,
                     heartbeat_period=args.heartbeat_period,
                     dead_kernels=args.dead_kernels)
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
    else:
        for key, value in dataclasses.asdict(result).items():
            if key != 'owner_profile':
                print('%-24s %s' % (key, value))
        print(result.owner_profile)
    sys.stdout.flush()
    # Probe threads are daemons; do not wait for hung simulated pings.
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
