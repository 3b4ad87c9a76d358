"""The real test bed as the benchmarks use it: guests, masakari-api, faults.

Everything comes from ``tests/bed``: libvirtd (``prepare_host``), the guest
image, :class:`~tests.bed.guest.Guest` (faults injected from inside the guest
through its control port), :class:`~tests.bed.masakari.MasakariAPI`, our
service (:class:`~tests.bed.service.MonitorProcess`) and upstream's
(:class:`~tests.bed.upstream.UpstreamMonitor`).

The benchmark's guests are named ``instance-bench-N`` and their agent socket
sits where Nova puts it, so that upstream's socket-path regex finds them.
Only domains with that prefix are ever touched.
"""

import concurrent.futures
import contextlib
import dataclasses
import logging
import pathlib
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import libvirt
from masakari_introspect.runtime.store import StateStore
from tests.bed.guest import Guest
from tests.bed.guest import connection
from tests.bed.guest import destroy_all
from tests.bed.host import prepare_host
from tests.bed.image import build_image
from tests.bed.masakari import MasakariAPI
from tests.bed.masakari import ensure_venv
from tests.bed.service import CONSOLE_SCRIPT
from tests.bed.service import MonitorProcess
from tests.bed.upstream import UpstreamMonitor
from tests.bed.upstream import ensure_upstream_venv

from benchmarks import observe
from benchmarks import upstream_shim

LOG = logging.getLogger(__name__)

PREFIX = 'instance-bench-'
# Upstream always sends socket.gethostname(); ours is configured the same,
# so one Masakari host serves both.
HOSTNAME = socket.gethostname()
FAULTS = ('kill', 'hang', 'panic', 'balloon-panic', 'balloon-kill')
FAULT_COMMANDS = {'kill': 'agent-kill', 'hang': 'agent-hang',
                  'panic': 'panic', 'balloon-panic': 'panic',
                  'balloon-kill': 'agent-kill'}
FAULT_LABELS = {'kill': 'agent killed', 'hang': 'agent hung (SIGSTOP)',
                'panic': 'kernel panic',
                'balloon-panic': 'kernel panic, balloon period 1',
                'balloon-kill': 'agent killed, balloon period 1'}
# Faults on guests with a virtio balloon whose statistics period is this
# (the kernel heartbeat, issue 19); the others have no balloon.
BALLOON_PERIOD = 1
BALLOON_FAULTS = ('balloon-panic', 'balloon-kill')
# The guest's /init acknowledges "panic", sleeps 0.3 s, then panics.
PANIC_AFTER_ACK = 0.3
BOOT_TIMEOUT = 240.0
POLL_INTERVAL = 0.2
FOREIGN_MONITORS = ('masakari-introspect ', 'masakari-introspectiveinstance')
STATE_FILE = 'instances.json'       # in MonitorProcess.state_path
# Upstream's qemu_guest_agent_sock_path, narrowed to the benchmark's guests.
UPSTREAM_SOCKETS = (r'/var/lib/libvirt/qemu/org\.qemu\.guest_agent\..*\.'
                    + PREFIX.replace('-', '\\-') + r'.*\.sock')


@dataclasses.dataclass
class Bed:
    rundir: pathlib.Path
    api: MasakariAPI
    guests: list[Guest]
    upstream_venv: pathlib.Path
    # Seconds, for the whole run, to wait for other monitors to end.
    foreign_wait_left: float = 600.0
    # What went wrong on the way (reported with the results).
    incidents: list[str] = dataclasses.field(default_factory=list)

    def stop(self, monitor: MonitorProcess | UpstreamMonitor) -> None:
        """SIGTERM a monitor; SIGKILL ours if that was not enough, and say
        so (upstream's stop() does the same on its own)."""
        try:
            monitor.stop()
        except subprocess.TimeoutExpired:
            handled = 'Received SIGTERM' in monitor.log_text()
            monitor.kill()
            incident = ('%s (%s) did not exit within 30 s of SIGTERM and was '
                        'killed; %s' % (
                            monitor.rundir.name, CONSOLE_SCRIPT,
                            'it had logged the signal' if handled else
                            'its log has no "Received SIGTERM": the signal '
                            'handler never ran'))
            LOG.error('%s', incident)
            self.incidents.append(incident)

    # -- monitors -----------------------------------------------------------

    def ours(self, name: str, *, interval: int, timeout: int,
             debug: bool = True) -> MonitorProcess:
        """Our service (the installed console script), not started.

        Other people's running domains are put in maintenance in its state
        file before it starts, so that it watches the benchmark's guests
        only and never probes (and disturbs) anybody else's.
        """
        process = MonitorProcess(
            self.rundir / name, endpoint=self.api.endpoint, host=HOSTNAME,
            debug=debug,
            options={'introspection': {
                'probe_interval': interval, 'probe_timeout': timeout,
                'failure_threshold': 3, 'boot_grace_period': 60}})
        StateStore(process.state_path / STATE_FILE).save(
            {}, maintenance=set(foreign_domains().values()))
        return process

    def upstream(self, name: str, *, interval: int, timeout: int,
                 debug: bool = True,
                 instrumented: bool = True) -> UpstreamMonitor:
        """masakari-monitors 22.0.0's introspective monitor, not started;
        ``instrumented``: logs each ping (see upstream_shim)."""
        rundir = self.rundir / name
        venv = upstream_shim.instrumented_venv(
            self.upstream_venv, rundir / 'shim') if instrumented \
            else self.upstream_venv
        return UpstreamMonitor(
            rundir, self.api.endpoint, interval=interval, timeout=timeout,
            failure_threshold=3, debug=debug, venv=venv,
            sock_path_regex=UPSTREAM_SOCKETS)

    # -- other people on the host ------------------------------------------

    def quiet(self) -> list[str]:
        """Wait (within ``foreign_wait_left``) until no other monitor runs;
        return what shares the host now, to be reported with the figures."""
        announced = False
        while foreign_monitors(self.rundir) and self.foreign_wait_left > 0:
            if not announced:
                LOG.info('other monitor process(es) %s probe our guests '
                         'too; waiting up to %.0f s for them to end',
                         foreign_monitors(self.rundir),
                         self.foreign_wait_left)
                announced = True
            time.sleep(2)
            self.foreign_wait_left -= 2
        return foreign_activity(self.rundir)

    # -- guests -------------------------------------------------------------

    def ensure_healthy(self, guests: list[Guest] | None = None) -> None:
        """Every guest running with an answering agent (boots them if not)."""
        guests = self.guests if guests is None else guests
        for guest in guests:
            if not guest.dom.isActive():
                guest.start()

        def ready(guest: Guest) -> None:
            try:
                guest.wait_agent(timeout=BOOT_TIMEOUT)
            except TimeoutError:
                LOG.warning('%s does not answer; healing it', guest.name)
                guest.heal(timeout=60)

        with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
            list(pool.map(ready, guests))

    def wait_notification(self, uuid: str, timeout: float) -> float | None:
        """Monotonic time at which Masakari lists a notification for uuid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = self.api.notifications()
            except Exception as exc:   # a slow API is no reason to stop
                LOG.warning('GET /notifications failed: %s', exc)
                found = []
            if any(n['payload'].get('instance_uuid') == uuid for n in found):
                return time.monotonic()
            time.sleep(POLL_INTERVAL)
        return None

    def notified(self) -> set[str]:
        return {n['payload'].get('instance_uuid')
                for n in self.api.notifications()}


def inject(guest: Guest, fault: str) -> float:
    """Cause ``fault`` inside the guest; the monotonic time it happened."""
    guest.control(FAULT_COMMANDS[fault])
    happened = time.monotonic()
    return happened + PANIC_AFTER_ACK if FAULT_COMMANDS[fault] == 'panic' \
        else happened


def recover(guest: Guest, fault: str) -> None:
    """Undo a fault. A panicked guest is destroyed at once (it spins a host
    core under TCG) and booted again without waiting for it."""
    if FAULT_COMMANDS[fault] == 'panic':
        guest.destroy()
        guest.start()
    else:
        guest.heal(timeout=60)


def heal_all(guests: list[Guest]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max(len(guests), 1)) as pool:
        list(pool.map(lambda guest: guest.heal(timeout=60), guests))


def hang_all(guests: list[Guest]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max(len(guests), 1)) as pool:
        list(pool.map(lambda guest: guest.control('agent-hang'), guests))


def foreign_domains() -> dict[str, str]:
    """Running domains that are not the benchmark's: name -> UUID."""
    found = {}
    for dom in connection().listAllDomains(0):
        try:
            if dom.isActive() and not dom.name().startswith(PREFIX):
                found[dom.name()] = dom.UUIDString()
        except libvirt.libvirtError:
            continue    # gone meanwhile
    return found


def foreign_monitors(rundir: pathlib.Path) -> list[int]:
    """Monitor processes not started by this run (ours run from rundir).

    They probe our guests too: libvirt serialises agent calls per domain,
    so their pings of a hung guest delay ours (and upstream's).
    """
    return [pid for pid, cmdline in observe.command_lines().items()
            if any(name in cmdline + ' ' for name in FOREIGN_MONITORS)
            and str(rundir) not in cmdline]


def foreign_activity(rundir: pathlib.Path) -> list[str]:
    """Other people's guests and monitors on this host right now."""
    return (['guest %s' % name for name in sorted(foreign_domains())]
            + ['monitor pid %d' % pid for pid in foreign_monitors(rundir)])


def wait_seen_healthy_ours(monitor: MonitorProcess, guests: list[Guest],
                           after: int | None, timeout: float) -> None:
    """Our monitor logged each guest's move to healthy past ``after``."""
    for guest in guests:
        monitor.wait_log(r'%s\): \w+ -> healthy' % re.escape(guest.uuid),
                         timeout=timeout, after=after)


def wait_seen_healthy_upstream(monitor: UpstreamMonitor, guests: list[Guest],
                               after: int, timeout: float) -> None:
    """Upstream (instrumented) had an answer from each guest past byte
    ``after`` of its log: it left 'discovery', so failures count now."""
    deadline = time.monotonic() + timeout
    wanted = {guest.uuid for guest in guests}
    while True:
        text = observe.read_from(monitor.log_path, after)
        done = set(observe.times_by_uuid(text, upstream_shim.PING_OK))
        if wanted <= done:
            return
        if not monitor.running:
            raise RuntimeError('upstream monitor exited:\n%s'
                               % monitor.log_text()[-3000:])
        if time.monotonic() > deadline:
            raise TimeoutError('upstream did not ping %s successfully in '
                               '%.0f s' % (sorted(wanted - done), timeout))
        time.sleep(0.25)


@contextlib.contextmanager
def open_bed(rundir: pathlib.Path, guests: int) -> Iterator[Bed]:
    """Prepare the host, start masakari-api, boot ``guests`` guests; on
    exit destroy every guest of the benchmark and stop the API."""
    started = time.monotonic()
    prepare_host()
    image = build_image()
    masakari_venv = ensure_venv()
    upstream_venv = ensure_upstream_venv()
    destroy_all(PREFIX)
    # Masakari refuses an identical payload within this interval (409);
    # each measurement also starts from an empty notification table.
    api = MasakariAPI(rundir / 'masakari', HOSTNAME, venv=masakari_venv,
                      extra_conf={'DEFAULT': {
                          'duplicate_notification_detection_interval': '1'}})
    api.start()
    try:
        # Guest i takes fault FAULTS[i] in the detection part.
        fleet = [Guest.define('%s%d' % (PREFIX, i), image,
                              nova_socket_path=True,
                              balloon_period=BALLOON_PERIOD
                              if i < len(FAULTS) and
                              FAULTS[i] in BALLOON_FAULTS else None)
                 for i in range(guests)]
        bed = Bed(rundir, api, fleet, upstream_venv)
        bed.ensure_healthy()
        LOG.info('bed ready in %.0f s: %d guests, masakari-api at %s',
                 time.monotonic() - started, guests, api.endpoint)
        yield bed
    finally:
        removed = destroy_all(PREFIX)
        LOG.info('destroyed %d benchmark guest(s)', len(removed))
        api.stop()
