"""Fakes shared by the unit tests: clocks, a hypervisor, an outbox, and a
monitor wired to them. Passed in through constructors; nothing is patched."""

import threading
import time

from masakari_introspect.fleet import Fleet
from masakari_introspect.model import Activity
from masakari_introspect.model import DomainInfo
from masakari_introspect.model import Outcome
from masakari_introspect.model import ProbeResult
from masakari_introspect.model import Settings
from masakari_introspect.monitor import Monitor
from masakari_introspect.tracker import Policy

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


def domain(uuid=A, name='vm-a', running=True, agent=True, domain_id=1,
           connected=True, reason=''):
    return DomainInfo(uuid, name, running, agent, domain_id, connected,
                      reason)


class RecordingOutbox:
    def __init__(self):
        self.sent = []
        self.withdrawn = []

    def submit(self, notification):
        self.sent.append(notification)
        return True

    def withdraw(self, instance_uuid, why):
        self.withdrawn.append((instance_uuid, why))


class InstantHypervisor:
    """Two running domains; A's agent answers, B's only the first time."""

    def __init__(self):
        self.domains = [domain(A, 'vm-a', domain_id=1),
                        domain(B, 'vm-b', domain_id=2)]
        self.answered_b = threading.Event()
        self.stats_calls = 0

    def list_domains(self):
        return list(self.domains)

    def domain_info(self, uuid):
        return next((d for d in self.domains if d.uuid == uuid), None)

    def ping(self, uuid, timeout):
        outcome = Outcome.OK
        if uuid == B:
            if self.answered_b.is_set():
                outcome = Outcome.MISS
            self.answered_b.set()
        return ProbeResult(uuid, outcome, duration=0.002)

    def activity(self):
        self.stats_calls += 1
        return [Activity(d.uuid, 0, 0) for d in self.domains]


def make_fleet(policy=None, clock=None, wall=None, **settings):
    settings.setdefault('hostname', HOST)
    return Fleet(policy or Policy(failure_threshold=3, boot_grace_period=0,
                                  probe_interval=10),
                 Settings(**settings),
                 clock=clock or FakeClock(), wall=wall or FakeClock(1.7e9))


def make_monitor(hypervisor, outbox, policy=None, **kwargs):
    fleet = Fleet(policy or Policy(failure_threshold=2, boot_grace_period=0,
                                   probe_interval=60),
                  Settings(hostname=HOST), clock=time.monotonic,
                  wall=time.time)
    kwargs.setdefault('probe_timeout', 1)
    return Monitor(hypervisor, fleet, outbox, **kwargs)


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.02)
