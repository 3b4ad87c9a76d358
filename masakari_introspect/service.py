"""The service: builds the parts from configuration and runs them."""

import logging
import pathlib
import threading

from oslo_config import cfg

from masakari_introspect.monitor import Monitor
from masakari_introspect.monitor import Settings
from masakari_introspect.notifier import MasakariNotifier
from masakari_introspect.scheduler import Clockwork
from masakari_introspect.sender import Sender
from masakari_introspect.spool import Spool
from masakari_introspect.state import StateStore
from masakari_introspect.tracker import Policy
from masakari_introspect.virt.host import LibvirtHost

LOG = logging.getLogger(__name__)


class Service:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        intro = conf.introspection
        state_path = pathlib.Path(conf.state_path)
        state_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._shutdown_timeout = intro.shutdown_timeout
        self._stop = threading.Event()
        self.sender = Sender(
            Spool(state_path / 'spool', conf.masakari.spool_max_entries),
            MasakariNotifier.from_conf(conf),
            retry_interval=conf.masakari.retry_interval,
            retry_interval_max=conf.masakari.retry_interval_max)
        self.host = LibvirtHost(
            conf.libvirt.connection_uri,
            on_event=lambda event: self.monitor.post_event(event),
            on_connection=lambda up: self.monitor.post_connection(up),
            keepalive_interval=conf.libvirt.keepalive_interval,
            keepalive_count=conf.libvirt.keepalive_count,
            reconnect_interval_max=conf.libvirt.reconnect_interval_max)
        self.monitor = Monitor(
            self.host,
            Policy(failure_threshold=intro.failure_threshold,
                   boot_grace_period=intro.boot_grace_period,
                   report_agent_never_answered=(
                       intro.report_agent_never_answered)),
            Settings(hostname=conf.host,
                     probe_interval=intro.probe_interval,
                     probe_timeout=intro.probe_timeout,
                     max_concurrent_probes=intro.max_concurrent_probes),
            self.sender,
            store=StateStore(state_path / 'instances.json'))
        self.clockwork = Clockwork(
            probe_interval=intro.probe_interval,
            resync_interval=intro.resync_interval,
            on_tick=self.monitor.tick, on_resync=self.monitor.resync)

    def request_stop(self) -> None:
        """Safe from a signal handler."""
        self._stop.set()
        self.host.close()

    def run(self) -> None:
        """Run until request_stop(); returns after a bounded shutdown."""
        self.sender.start()
        try:
            if not self.host.connect():
                return
            self.monitor.start()
            self.monitor.resync()
            self.clockwork.start()
            LOG.info('Monitoring guest agents')
            while not self._stop.wait(3600):
                pass
            LOG.info('Stopping: waiting up to %d s for probes in flight',
                     self._shutdown_timeout)
        finally:
            self.clockwork.stop()
            self.monitor.stop(self._shutdown_timeout)
            self.host.close()
            self.sender.stop()
        LOG.info('Stopped')
