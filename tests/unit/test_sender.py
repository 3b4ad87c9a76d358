"""The sender: spool in, one attempt at a time, backoff, logged changes."""

import collections
import logging
import time

import pytest

from masakari_introspect.model import Delivery, DeliveryResult, Notification
from masakari_introspect.outbox import Sender
from masakari_introspect.spool import Spool

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'

OK = DeliveryResult(Delivery.DELIVERED, 202, '')
DUP = DeliveryResult(Delivery.DUPLICATE, 409, 'already there')
DOWN = DeliveryResult(Delivery.TRANSIENT, None, 'ConnectFailure: refused')
E500 = DeliveryResult(Delivery.TRANSIENT, 500, 'oops')
BAD = DeliveryResult(Delivery.REJECTED, 400, 'Host with name X could not '
                     'be found.')
LOGGER = 'masakari_introspect.outbox'


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeNotifier:
    def __init__(self, *results, default=OK):
        self.results = collections.deque(results)
        self.default = default
        self.sent = []

    def send(self, notification):
        self.sent.append(notification)
        return self.results.popleft() if self.results else self.default


def note(uuid=A, generated='2026-11-21T17:00:00'):
    return Notification(instance_uuid=uuid, hostname='compute-1',
                        generated_time=generated, id='id-' + uuid)


def drive(s, clock, limit=50):
    """Let time pass until nothing is pending; return the attempts' waits."""
    waits = []
    for _ in range(limit):
        wait = s.deliver_due()
        if wait is None:
            return waits
        waits.append(wait)
        clock.now += wait
    raise AssertionError(f'still pending after {limit} attempts')


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def spool(tmp_path):
    return Spool(tmp_path / 'spool', 100)


def sender(spool, notifier, clock, **kwargs):
    kwargs.setdefault('retry_interval', 2.0)
    kwargs.setdefault('retry_interval_max', 16.0)
    return Sender(spool, notifier, clock=clock, **kwargs)


def test_delivered_entries_are_removed(spool, clock):
    notifier = FakeNotifier(OK, OK)
    s = sender(spool, notifier, clock)
    assert s.submit(note(A, '2026-11-21T17:00:00'))
    assert s.submit(note(B, '2026-11-21T17:00:01'))
    assert s.pending() == 2
    assert s.deliver_due() is None
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    assert spool.pending() == []
    assert s.pending() == 0
    # nothing left: nothing sent
    assert s.deliver_due() is None
    assert len(notifier.sent) == 2


def test_409_is_removed(spool, clock):
    notifier = FakeNotifier(DUP)
    s = sender(spool, notifier, clock)
    s.submit(note())
    assert s.deliver_due() is None
    assert spool.pending() == []


def test_transient_is_kept_and_backs_off_exponentially(spool, clock):
    notifier = FakeNotifier(default=DOWN)
    s = sender(spool, notifier, clock, retry_interval=2.0,
               retry_interval_max=16.0)
    s.submit(note())
    waits = []
    for _ in range(7):
        wait = s.deliver_due()
        waits.append(wait)
        attempts = len(notifier.sent)
        # no attempt before the backoff ends
        clock.now += wait - 0.5
        assert s.deliver_due() == pytest.approx(0.5)
        assert len(notifier.sent) == attempts
        clock.now += 0.5
    assert waits == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0, 16.0]
    assert len(notifier.sent) == 7
    assert [n.instance_uuid for n in spool.pending()] == [A]


def test_rejected_is_kept_and_retried_at_the_maximum(spool, clock):
    notifier = FakeNotifier(default=BAD)
    s = sender(spool, notifier, clock, retry_interval=2.0,
               retry_interval_max=30.0)
    s.submit(note())
    for _ in range(4):
        assert s.deliver_due() == 30.0
        clock.now += 29.0
        assert s.deliver_due() == pytest.approx(1.0)
        clock.now += 1.0
    assert len(notifier.sent) == 4
    assert len(spool.pending()) == 1


def test_outage_then_accepted_delivers_exactly_once(spool, clock):
    notifier = FakeNotifier(DOWN, E500, DOWN, E500, DOWN, OK)
    s = sender(spool, notifier, clock)
    s.submit(note())
    assert drive(s, clock) == [2.0, 4.0, 8.0, 16.0, 16.0]
    assert len(notifier.sent) == 6
    assert notifier.sent[-1].instance_uuid == A
    assert spool.pending() == []
    # the backoff is reset: a new notification goes out at once
    s.submit(note(B))
    assert s.deliver_due() is None
    assert [n.instance_uuid for n in notifier.sent[-2:]] == [A, B]
    assert notifier.results == collections.deque()


def test_a_new_notification_does_not_skip_the_backoff(spool, clock):
    notifier = FakeNotifier(DOWN)
    s = sender(spool, notifier, clock)
    s.submit(note(A))
    assert s.deliver_due() == 2.0
    s.submit(note(B))
    clock.now += 1.0
    assert s.deliver_due() == pytest.approx(1.0)
    assert len(notifier.sent) == 1


def test_condition_is_logged_once_per_change(spool, clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    notifier = FakeNotifier(DOWN, E500, DOWN, DOWN, DOWN, OK,
                            DOWN, DOWN, DOWN, BAD, BAD, BAD, OK)

    def count(level):
        return len([r for r in caplog.records
                    if r.name == LOGGER and r.levelno == level])

    s = sender(spool, notifier, clock)
    s.submit(note(A))
    drive(s, clock)
    # five failed attempts in one outage: one warning, then one INFO
    assert len(notifier.sent) == 6
    assert count(logging.WARNING) == 1
    assert count(logging.ERROR) == 0
    recovered = [r for r in caplog.records if r.levelno == logging.INFO
                 and 'reachable again' in r.getMessage()]
    assert len(recovered) == 1

    s.submit(note(B))
    drive(s, clock)
    assert len(notifier.sent) == 13
    # a second outage: a second warning; three refusals: one error
    assert count(logging.WARNING) == 2
    assert count(logging.ERROR) == 1
    assert spool.pending() == []


def test_submit_refuses_a_second_notification_of_the_same_instance(
        spool, clock):
    notifier = FakeNotifier(DOWN)
    s = sender(spool, notifier, clock)
    assert s.submit(note(A)) is True
    assert s.submit(note(A, '2026-11-21T17:05:00')) is False
    assert s.pending() == 1
    assert s.submit(note(B)) is True
    assert s.pending() == 2


def test_on_result_sees_every_attempt(spool, clock):
    seen = []
    notifier = FakeNotifier(DOWN, OK)
    s = sender(spool, notifier, clock,
               on_result=lambda n, r: seen.append((n.instance_uuid,
                                                   r.delivery)))
    s.submit(note())
    clock.now += s.deliver_due()
    assert s.deliver_due() is None
    assert seen == [(A, Delivery.TRANSIENT), (A, Delivery.DELIVERED)]


def test_thread_delivers_what_is_submitted(spool):
    notifier = FakeNotifier(OK)
    s = Sender(spool, notifier, retry_interval=0.1, retry_interval_max=1.0)
    s.start()
    try:
        assert s.submit(note())
        for _ in range(200):
            if not spool.pending():
                break
            time.sleep(0.01)
    finally:
        s.stop(2)
    assert spool.pending() == []
    assert len(notifier.sent) == 1
