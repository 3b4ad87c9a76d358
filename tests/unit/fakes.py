"""Fakes shared by the unit tests: clocks, a hypervisor, an outbox, and a
monitor wired to them. Passed in through constructors; nothing is patched."""

import dataclasses
import http.server
import os
import pathlib
import pwd
import sys
import threading
import time

import pytest
from oslo_config import cfg

from masakari_introspect.conf import api
from masakari_introspect.conf import default
from masakari_introspect.conf import introspection
from masakari_introspect.conf import libvirt
from masakari_introspect.conf import masakari
from masakari_introspect.conf import metrics
from masakari_introspect.conf import recovery
from masakari_introspect.conf import status
from masakari_introspect.core.policy import Settings

from masakari_introspect.core.fleet import Fleet
from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.status import LIMITED
from masakari_introspect.core.status import MAINTENANCE
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.runtime.monitor import Monitor
from masakari_introspect.core.tracker import Policy

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'
C = '00000000-0000-0000-0000-00000000000c'
HOST = 'compute-1'


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now=5000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def spooled(spool):
    """The notifications waiting in ``spool``, oldest first."""
    return [entry.notification for entry in spool.entries()]


def domain(uuid=A, name='vm-a', running=True, agent=True, domain_id=1,
           connected=True, reason='', blind_spots=()):
    return DomainInfo(uuid, name, running, agent, domain_id, connected,
                      PauseReason(reason), blind_spots)


class RecordingOutbox:
    def __init__(self):
        self.sent = []
        self.withdrawn = []

    def submit(self, notification):
        self.sent.append(notification)
        return True

    def withdraw(self, instance_uuid, why, cause=None):
        """True if a notification for the instance is still "pending"
        (sent here and not withdrawn yet)."""
        pending = any(n.instance_uuid == instance_uuid for n in self.sent) \
            and all(u != instance_uuid for u, _why in self.withdrawn)
        self.withdrawn.append((instance_uuid, why))
        return pending


class InstantHypervisor:
    """Two running domains; A's agent answers, B's only the first time."""

    def __init__(self):
        self.domains = [domain(A, 'vm-a', domain_id=1),
                        domain(B, 'vm-b', domain_id=2)]
        self.answered_b = threading.Event()
        self.stats_calls = 0
        self.vcpu_calls = 0
        self.guest_calls = []

    def list_domains(self):
        return list(self.domains)

    def domain_info(self, uuid):
        return next((d for d in self.domains if d.uuid == uuid), None)

    def ping(self, uuid, timeout, osinfo=False):
        outcome = Outcome.OK
        if uuid == B:
            if self.answered_b.is_set():
                outcome = Outcome.MISS
            self.answered_b.set()
        return ProbeResult(uuid, outcome, duration=0.002)

    def activity(self):
        self.stats_calls += 1
        return [Activity(d.uuid, 0, 0) for d in self.domains]

    def guests_activity(self, uuids):
        self.guest_calls.append(uuids)
        return [Activity(d.uuid, 0, 0) for d in self.domains
                if d.uuid in uuids]

    def vcpus(self):
        self.vcpu_calls += 1
        return {d.uuid: ((0, 0),) for d in self.domains}


def make_fleet(policy=None, clock=None, wall=None, remembered=None,
               maintenance=(), absent=None, rules=None, **settings):
    settings.setdefault('hostname', HOST)
    return Fleet(policy or Policy(failure_threshold=3, boot_grace_period=0,
                                  probe_interval=10),
                 Settings(**settings), remembered=remembered,
                 maintenance=maintenance, absent=absent, rules=rules,
                 clock=clock or FakeClock(), wall=wall or FakeClock(1.7e9))


def make_monitor(hypervisor, outbox, policy=None, **kwargs):
    # Tests tick as fast as the owner thread answers: a short interval, so
    # that no tick comes "too soon" to close one (see Fleet.tick).
    fleet = Fleet(policy or Policy(failure_threshold=2, boot_grace_period=0,
                                   probe_interval=0.01),
                  Settings(hostname=HOST), clock=time.monotonic,
                  wall=time.time)
    kwargs.setdefault('probe_timeout', 1)
    # The fake hypervisor answers pings too: it stands in for the probe
    # connections the service passes as ``prober``.
    kwargs.setdefault('prober', hypervisor)
    return Monitor(hypervisor, fleet, outbox, **kwargs)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)


class Suspects:
    """The suspect prober: records which guests were probed on it."""

    def __init__(self, hypervisor):
        self.hypervisor = hypervisor
        self.probed = []

    def ping(self, uuid, timeout, osinfo=False):
        self.probed.append(uuid)
        return self.hypervisor.ping(uuid, timeout)


def ticked_until(monitor, predicate):
    """Tick ``monitor`` until ``predicate`` holds on its owner thread."""
    def tick():
        monitor.tick()
        return monitor.query(predicate).result(2)
    wait_until(tick)


@dataclasses.dataclass
class Reported:
    """A started monitor on an InstantHypervisor, its guest B reported
    through the outbox (the ``reported`` fixture of conftest.py)."""

    hypervisor: InstantHypervisor
    outbox: RecordingOutbox
    suspects: Suspects
    monitor: Monitor


# -- configuration -------------------------------------------------------------


ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / 'etc' / 'masakari-introspect' / 'masakari-introspect.conf.sample'


# -- moved helpers -------------------------------------------------------------


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes


needs_root = pytest.mark.skipif(
    os.getuid() != 0, reason='switching to another user needs root')


MONITORING_GID = 48611   # a group nobody else is in


def as_other_user(func, groups=()):
    """Run ``func()`` in a child process as 'nobody' (if we are root, as
    tests on the bed are), member of ``groups``; its exit code and what it
    wrote to stderr."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: only this thread, modules already loaded
        code = 99
        try:
            os.close(read_end)
            sys.stderr = os.fdopen(write_end, 'w')
            if os.getuid() == 0:
                nobody = pwd.getpwnam('nobody')
                os.setgroups(list(groups))
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            code = func()
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        err = reader.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


class FakeSource:
    """What the status server and the metrics ask of the service."""

    def __init__(self, instances=(), *, connected=True, pending=0,
                 dry_run=False, host='compute-1'):
        self.records = list(instances)
        self.connected = connected
        self.spooled = pending
        self.notifications = []   # PendingNotification values
        self.dry_run = dry_run
        self.host = host
        self.hang = False
        self.switched = []

    def instances(self):
        if self.hang:
            raise TimeoutError('monitor busy')
        return list(self.records)

    def libvirt_connected(self):
        return self.connected

    def pending(self):
        return self.spooled

    def pending_notifications(self):
        return tuple(self.notifications)

    def set_maintenance(self, instance, on):
        if self.hang:
            raise TimeoutError('monitor busy')
        for index, record in enumerate(self.records):
            if instance in (record.uuid, record.name):
                self.records[index] = dataclasses.replace(
                    record, maintenance=on,
                    phase=record.phase if on else Phase.GRACE)
                self.switched.append((record.uuid, on))
                return record.uuid
        return None


def instance(uuid=A, name='vm-a', state='healthy', misses=0,
             since=1.5, last_notification=None, maintenance=False):
    """An InstanceStatus; ``state`` is a Phase or the label shown."""
    limited = state == LIMITED
    maintenance = maintenance or state == MAINTENANCE
    phase = state if isinstance(state, Phase) else (
        Phase.FAILED if limited else
        Phase.HEALTHY if state == MAINTENANCE else Phase(state))
    return InstanceStatus(uuid, name, phase, misses=misses,
                          seconds_since_success=since,
                          reported=phase is Phase.FAILED,
                          last_notification=last_notification,
                          maintenance=maintenance, recovery_limited=limited)


def sample_sections():
    sections = {}
    current = None
    for line in SAMPLE.read_text().splitlines():
        if line.startswith('[') and line.endswith(']'):
            current = line[1:-1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def load(tmp_path, text):
    path = tmp_path / 'masakari-introspect.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    for module in (default, introspection, libvirt, masakari, metrics,
                   recovery, status, api):
        module.register_opts(conf)
    conf(['--config-file', str(path)], project='masakari-introspect',
         default_config_files=[])
    return conf




class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(('127.0.0.1', 0), Handler)
        self.requests = []
        self.release = threading.Event()
        self.respond = lambda handler: handler.reply(202, b'{}')

    @property
    def endpoint(self):
        return f'http://127.0.0.1:{self.server_address[1]}/v1'


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length)
        self.server.requests.append(
            Request(self.command, self.path, dict(self.headers), body))
        self.server.respond(self)

    do_GET = do_POST

    def reply(self, status, body=b'', content_type='application/json'):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
