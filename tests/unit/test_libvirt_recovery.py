"""The libvirt recovery driver on libvirt's in-process test driver."""

import logging

import pytest

libvirt = pytest.importorskip('libvirt')

from masakari_introspect.core.model import Delivery, Notification  # noqa: E402
from masakari_introspect.recovery.sender import Sender  # noqa: E402
from masakari_introspect.recovery.spool import Spool  # noqa: E402
from masakari_introspect.virt.recovery import LibvirtRecovery  # noqa: E402

MISSING = '11111111-2222-3333-4444-555555555555'
LOGGER = 'masakari_introspect.virt.recovery'


@pytest.fixture
def uri():
    """libvirt's shared in-process test host; its domain 'test' running.

    (A test:///file.xml host would be a new one on every connection, and
    the driver opens one per action.)
    """
    uri = 'test:///default'
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(UUID)
        if not dom.isActive():
            dom.create()
        yield uri
    finally:
        conn.close()


UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f'


def note(uuid=UUID):
    return Notification(uuid, 'compute-1', '2026-11-21T17:00:00', 'id-1',
                        instance_name='web-1', reason='unresponsive')


class Agent:
    """Answers after a given number of pings."""

    def __init__(self, after):
        self.after = after
        self.pings = 0

    def __call__(self, domain):
        self.pings += 1
        return self.pings > self.after


def driver(uri, action, agent=None, wait=30.0):
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    return LibvirtRecovery(uri, action, agent_wait=wait,
                           agent_answers=agent or Agent(0),
                           clock=lambda: clock[0], sleep=sleep)


def join(d):
    for thread in d.watchers:
        thread.join(5)


def test_reset_keeps_the_qemu_process_and_logs_the_agent(uri, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    agent = Agent(after=3)
    d = driver(uri, 'reset', agent)
    token = d.begin(note())
    result = d.send(note())
    join(d)
    assert result.delivery is Delivery.DELIVERED
    assert d.begin(note()) == token != ''
    assert agent.pings == 4
    assert any('answered again 3.0 s later' in r.getMessage()
               for r in caplog.records)


def test_restart_gives_a_new_qemu_process(uri):
    d = driver(uri, 'restart')
    token = d.begin(note())
    result = d.send(note())
    join(d)
    assert result.delivery is Delivery.DELIVERED
    assert d.begin(note()) != token
    # an entry started with the old id is done: not restarted again
    settled = d.settled(note(), token)
    assert settled is not None and settled.delivery is Delivery.DELIVERED
    # same id: the action did not happen, run it
    assert d.settled(note(), d.begin(note())) is None


def test_an_agent_that_stays_silent_is_logged(uri, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    d = driver(uri, 'reset', Agent(after=10 ** 6), wait=5.0)
    assert d.send(note()).delivery is Delivery.DELIVERED
    join(d)
    assert any('did not answer within 5 s' in r.getMessage()
               for r in caplog.records)


def test_a_domain_that_left_the_host(uri):
    d = driver(uri, 'reset')
    assert d.begin(note(MISSING)) == ''
    assert d.settled(note(MISSING), '') is None
    result = d.send(note(MISSING))
    assert result.delivery is Delivery.REJECTED
    assert 'no such domain' in result.message


def test_a_transient_domain_cannot_be_restarted(uri):
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(UUID)
        xml = dom.XMLDesc(0)
        dom.undefine()          # still running, now transient
        assert not dom.isPersistent()
        d = driver(uri, 'restart')
        result = d.send(note())
        assert result.delivery is Delivery.REJECTED
        assert 'transient' in result.message
        conn.defineXML(xml)
    finally:
        conn.close()


def test_no_connection_is_transient(tmp_path):
    d = driver(f'test://{tmp_path}/missing.xml', 'reset')
    assert d.send(note()).delivery is Delivery.TRANSIENT


def test_exactly_once_through_the_sender(uri, tmp_path):
    d = driver(uri, 'restart')
    spool = Spool(tmp_path / 'spool', 10)
    sender = Sender(spool, d, retry_interval=1, retry_interval_max=5,
                    clock=lambda: 0.0)
    sender.submit(note())
    assert sender.deliver_due() is None
    join(d)
    ids = [d.begin(note())]
    assert sender.deliver_due() is None
    assert d.begin(note()) == ids[0]        # not restarted a second time
    assert spool.pending() == []
