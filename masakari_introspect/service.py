"""The service: builds the parts from configuration and runs them."""

import concurrent.futures
import pathlib
import threading
import time

from oslo_config import cfg

from oslo_log import log as logging

from masakari_introspect.runtime.budget import Budget
from masakari_introspect.conf import policy_file
from masakari_introspect.conf import reload as conf_reload
from masakari_introspect.conf.metrics import parse_listen
from masakari_introspect.conf.validate import group_id
from masakari_introspect.conf.validate import naming
from masakari_introspect.recovery.forensics import Recorder
from masakari_introspect.ops import systemd
from masakari_introspect.ops.metrics import Metrics
from masakari_introspect.ops.metrics import MetricsListener
from masakari_introspect.ops.view import View
from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.policy import Settings
from masakari_introspect.runtime.monitor import Monitor
from masakari_introspect.recovery.outbox import Outbox
from masakari_introspect import recovery as recovery_drivers
from masakari_introspect.recovery.duplicate_window import AcceptedLog
from masakari_introspect.runtime.scheduler import Clockwork
from masakari_introspect.recovery.dry_run import DryRunOutbox
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from masakari_introspect.runtime.store import StateStore
from masakari_introspect.ops.status_server import StatusServer
from masakari_introspect.core.tracker import Policy
from masakari_introspect.virt.host import LibvirtHost
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.virt.balloon import BalloonPeriods
from masakari_introspect.virt.capture import LibvirtCapture
from masakari_introspect.virt.side import ExecPool

LOG = logging.getLogger(__name__)

# Beside the spool's entries (*.json): when each instance's last
# notification was accepted (Masakari's duplicate window).
ACCEPTED = 'last-accepted'
FIRST_RESYNC_WAIT = 60.0   # seconds the sender waits for the first resync


def worker_budget(conf: cfg.ConfigOpts) -> Budget:
    """The agent calls libvirtd's workers can take; logged."""
    workers = conf.libvirt.max_workers
    budget = Budget.of(workers, conf.libvirt.worker_share)
    LOG.info('Worker budget: %s; [libvirt] max_workers = %d, worker_share '
             '= %s', budget.describe(workers), workers,
             conf.libvirt.worker_share)
    if budget.total >= workers:
        LOG.warning('The worker budget (%d) takes all of libvirtd\'s %d '
                    'workers: Nova and the statistics call may wait behind '
                    'hung guests', budget.total, workers)
    return budget


class Service:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        intro = conf.introspection
        state_path = pathlib.Path(conf.state_path)
        with naming('[DEFAULT] state_path'):
            state_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._shutdown_timeout = intro.shutdown_timeout
        self._stop = threading.Event()
        self._conf = conf                   # for reloads (SIGHUP)
        self._reload = threading.Event()
        self._policy_file = (intro.policy_file, intro.probe_interval)
        self._watchdog: systemd.Watchdog | None = None
        spool = Spool(state_path / 'spool', conf.masakari.spool_max_entries)
        recovery = conf.recovery
        forensics = Recorder(state_path / 'forensics',
                             recovery.forensics_keep,
                             LibvirtCapture(conf.libvirt.connection_uri)) \
            if recovery.forensics else None
        self.metrics = Metrics() if conf.metrics.listen else None
        self.sender: Sender | None = None
        outbox: Outbox
        if conf.dry_run:
            outbox = DryRunOutbox(
                on_dry_run=self.metrics.dry_run if self.metrics else None,
                action=recovery_drivers.dry_run_action(conf))
        else:
            self.sender = Sender(
                spool, recovery_drivers.load_driver(
                    conf, forensics.captures if forensics else None),
                hostname=conf.host,
                retry_interval=conf.masakari.retry_interval,
                retry_interval_max=conf.masakari.retry_interval_max,
                duplicate_window=conf.masakari.duplicate_window,
                accepted=AcceptedLog(state_path / 'spool' / ACCEPTED),
                on_result=self.metrics.delivery if self.metrics else None)
            outbox = self.sender
        self.host = LibvirtHost(
            conf.libvirt.connection_uri,
            on_event=lambda event: self.monitor.post_event(event),
            on_connection=lambda up: self.monitor.post_connection(up),
            keepalive_interval=conf.libvirt.keepalive_interval,
            keepalive_count=conf.libvirt.keepalive_count,
            reconnect_interval_max=conf.libvirt.reconnect_interval_max,
            balloons=BalloonPeriods(intro.kernel_heartbeat_period)
            if intro.kernel_heartbeat else None,
            on_statistics=self.metrics.statistics_read
            if self.metrics else None)
        store = StateStore(state_path / 'instances.json')
        policy = Policy(
            failure_threshold=intro.failure_threshold,
            boot_grace_period=intro.boot_grace_period,
            report_agent_never_answered=intro.report_agent_never_answered,
            probe_interval=intro.probe_interval,
            activity_check=intro.activity_check,
            job_grace_max=intro.job_grace_max,
            kernel_heartbeat=intro.kernel_heartbeat,
            agent_loss=AgentLoss(intro.agent_loss),
            kdump_timeout=intro.kdump_timeout,
            starvation_grace=intro.starvation_grace)
        rules = policy_file.load(*self._policy_file)
        if intro.policy_file:
            LOG.info('Policy file %s: %d rule(s)', intro.policy_file,
                     len(rules.rules))
        fleet = Fleet(
            policy,
            Settings(hostname=conf.host, probe_timeout=intro.probe_timeout,
                     max_recoveries=recovery.max_recoveries,
                     recovery_window=recovery.window,
                     forget_after=intro.forget_absent_after,
                     probe_deadline=intro.probe_timeout + 10
                     + 2 * intro.probe_interval),
            remembered=store.load(), maintenance=store.load_maintenance(),
            absent=store.load_absent(),
            clock=time.monotonic, wall=time.time, rules=rules)
        self.budget = worker_budget(conf)
        slots = conf.libvirt.max_client_requests
        healthy, suspect = self.budget.connections(slots)
        healthy_pool = self.host.prober_pool(healthy, slots)
        self.monitor = Monitor(
            self.host, fleet, outbox, probe_timeout=intro.probe_timeout,
            lane_size=self.budget.healthy,
            suspect_lane_size=self.budget.suspect,
            store=store, observer=self.metrics,
            forensics=forensics,
            prober=healthy_pool,
            suspect_prober=self.host.prober_pool(suspect, slots),
            agent_exec=ExecPool(healthy_pool, intro.probe_timeout),
            app_slots=self.budget.application)
        if self.metrics is not None:
            self.metrics.watch_calls(self.monitor.calls, self.budget.total)
        self.clockwork = Clockwork(
            probe_interval=intro.probe_interval,
            resync_interval=intro.resync_interval,
            on_tick=self.monitor.tick, on_resync=self.monitor.resync)
        view = View(self.monitor, self.host, spool, hostname=conf.host,
                    dry_run=conf.dry_run, pending_view=self.sender.pending_view
                    if self.sender is not None else tuple)
        with naming('[status] socket_path'):
            self.status = StatusServer(
                conf.status.socket_path, view,
                group=group_id(conf.status.socket_group)
                if conf.status.socket_group else None) \
                if conf.status.socket_path else None
        self.metrics_listener: MetricsListener | None = None
        if self.metrics is not None:
            self.metrics.watch(view)
            try:
                with naming('[metrics] listen = %s' % conf.metrics.listen):
                    self.metrics_listener = MetricsListener(
                        self.metrics.registry,
                        *parse_listen(conf.metrics.listen))
            except Exception:
                if self.status is not None:
                    self.status.close()
                raise
        if conf.dry_run:
            LOG.warning('dry_run is on: failed instances are logged, not '
                        'reported to Masakari%s', '' if not len(spool) else
                        '; %d notification(s) in the spool stay unsent'
                        % len(spool))

    def request_stop(self) -> None:
        """Safe from a signal handler."""
        self._stop.set()
        self.host.interrupt()

    def request_reload(self) -> None:
        """Safe from a signal handler: the main loop reloads."""
        self._reload.set()

    def _start_watchdog(self) -> None:
        period = systemd.watchdog_period()
        if period is not None:
            self._watchdog = systemd.Watchdog(
                period, lambda timeout: systemd.answers(self.monitor, timeout))
            self._watchdog.start()

    def run(self) -> None:
        """Run until request_stop(); returns after a bounded shutdown."""
        # Answering before libvirtd is reached: status and metrics then say
        # that the service waits for it.
        self.monitor.start()
        for server in (self.status, self.metrics_listener):
            if server is not None:
                server.start()
        try:
            systemd.notify('STATUS=Connecting to libvirt')
            if not self.host.connect():
                return
            self.monitor.resync()
            if self.sender is not None:
                # After the first resync is carried out: it withdraws what
                # is pending for a guest now run by another QEMU process.
                try:
                    self.monitor.query(lambda: None).result(FIRST_RESYNC_WAIT)
                except concurrent.futures.TimeoutError:
                    LOG.warning('The first resync is not done after %.0f s; '
                                'acting on pending notifications anyway',
                                FIRST_RESYNC_WAIT)
                self.sender.start()
            self.clockwork.start()
            LOG.info('Monitoring guest agents')
            systemd.notify('READY=1', 'STATUS=Monitoring guest agents')
            self._start_watchdog()
            # Short waits: a signal delivered to another thread only runs
            # its Python handler when the main thread wakes up.
            while not self._stop.wait(0.5):
                if self._reload.is_set():
                    self._reload.clear()
                    conf_reload.reload(self._conf)
                    rules = policy_file.reload(*self._policy_file)
                    if rules is not None:
                        self.monitor.set_rules(rules)
            LOG.info('Stopping: waiting up to %d s for probes in flight',
                     self._shutdown_timeout)
        finally:
            systemd.notify('STOPPING=1', 'STATUS=Stopping')
            if self._watchdog is not None:
                self._watchdog.stop()
            self.clockwork.stop()
            for server in (self.status, self.metrics_listener):
                if server is not None:
                    server.close()
            self.monitor.stop(self._shutdown_timeout)
            self.host.close()
            if self.sender is not None:
                self.sender.stop()
        LOG.info('Stopped')
