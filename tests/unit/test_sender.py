"""The sender: spool in, one attempt at a time, backoff, logged changes."""

import collections
import logging
import time

import pytest

from masakari_introspect.core.notification import Delivery, DeliveryResult, Notification
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import FakeClock, spooled

A = '00000000-0000-0000-0000-00000000000a'
B = '00000000-0000-0000-0000-00000000000b'
C = '00000000-0000-0000-0000-00000000000c'

OK = DeliveryResult(Delivery.DELIVERED, 202, '')
DUP = DeliveryResult(Delivery.DUPLICATE, 409, 'already there')
DOWN = DeliveryResult(Delivery.TRANSIENT, None, 'ConnectFailure: refused')
E500 = DeliveryResult(Delivery.TRANSIENT, 500, 'oops')
BAD = DeliveryResult(Delivery.REJECTED, 400, 'Host with name X could not '
                     'be found.')
MAINT = DeliveryResult(Delivery.MAINTENANCE, 409, "Notification received "
                       "from host compute-1 of type 'VM' is ignored as the "
                       "host is already under maintenance.")
THERE = DeliveryResult(Delivery.DELIVERED, 200, 'Masakari has it as '
                       'notification n-1 (status new)')
LOGGER = 'masakari_introspect.recovery.sender'


class FakeNotifier:
    """A recovery driver that answers from a script."""

    name = 'Masakari API'
    outage_wide = True

    def __init__(self, *results, default=OK, settled=None, spool=None):
        self.results = collections.deque(results)
        self.default = default
        self.settled_answers = collections.deque(settled or ())
        self.spool = spool
        self.sent = []
        self.asked = []
        self.began = []
        self.started_before_send = []

    def begin(self, notification):
        self.began.append(notification.instance_uuid)
        return 'token-%d' % len(self.began)

    def send(self, notification):
        self.sent.append(notification)
        if self.spool is not None:
            entry = [e for e in self.spool.entries()
                     if e.notification.instance_uuid ==
                     notification.instance_uuid][0]
            self.started_before_send.append((entry.announced, entry.token))
        return self.results.popleft() if self.results else self.default

    def settled(self, notification, token):
        self.asked.append((notification.instance_uuid, token))
        return self.settled_answers.popleft() if self.settled_answers \
            else None


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
    return FakeClock(1000.0)


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
    assert len(spool) == 2
    assert s.deliver_due() is None
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    assert spooled(spool) == []
    assert len(spool) == 0
    # nothing left: nothing sent
    assert s.deliver_due() is None
    assert len(notifier.sent) == 2


def test_409_for_a_first_attempt_is_a_new_failure_sent_after_the_window(
        spool, clock):
    notifier = FakeNotifier(DUP, OK)
    wall = 1795280410.0     # 2026-11-21T17:00:10Z, not moved: floor wins
    s = sender(spool, notifier, clock, duplicate_window=180.0,
               wall=lambda: wall)
    s.submit(note())
    assert s.deliver_due() == 181.0      # no earlier report known: a window
    assert len(spooled(spool)) == 1
    clock.now += 181.0
    assert s.deliver_due() is None
    assert spooled(spool) == []
    assert notifier.sent[1].generated_time == '2026-11-21T17:03:01'


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
    assert [n.instance_uuid for n in spooled(spool)] == [A]


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
    assert len(spooled(spool)) == 1


def test_outage_then_accepted_delivers_exactly_once(spool, clock):
    notifier = FakeNotifier(DOWN, E500, DOWN, E500, DOWN, OK)
    s = sender(spool, notifier, clock)
    s.submit(note())
    assert drive(s, clock) == [2.0, 4.0, 8.0, 16.0, 16.0]
    assert len(notifier.sent) == 6
    assert notifier.sent[-1].instance_uuid == A
    assert spooled(spool) == []
    # the backoff is reset: a new notification goes out at once
    s.submit(note(B))
    assert s.deliver_due() is None
    assert [n.instance_uuid for n in notifier.sent[-2:]] == [A, B]
    assert notifier.results == collections.deque()


def test_a_new_notification_is_not_held_by_a_backing_off_one(spool, clock):
    notifier = FakeNotifier(DOWN, OK)
    s = sender(spool, notifier, clock)
    s.submit(note(A))
    assert s.deliver_due() == 2.0
    s.submit(note(B))
    clock.now += 1.0
    assert s.deliver_due() == pytest.approx(1.0)
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    assert [n.instance_uuid for n in spooled(spool)] == [A]


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
    assert spooled(spool) == []


def test_submit_refuses_a_second_notification_of_the_same_instance(
        spool, clock):
    notifier = FakeNotifier(DOWN)
    s = sender(spool, notifier, clock)
    assert s.submit(note(A)) is True
    assert s.submit(note(A, '2026-11-21T17:05:00')) is False
    assert len(spool) == 1
    assert s.submit(note(B)) is True
    assert len(spool) == 2


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
            if not spooled(spool):
                break
            time.sleep(0.01)
    finally:
        s.stop(2)
    assert spooled(spool) == []
    assert len(notifier.sent) == 1


# -- issue 11: clean delivery ---------------------------------------------------

def test_a_refused_entry_blocks_nothing(spool, clock):
    notifier = FakeNotifier(BAD, OK, default=BAD)
    s = sender(spool, notifier, clock, retry_interval_max=30.0)
    s.submit(note(A, '2026-11-21T17:00:00'))
    s.submit(note(B, '2026-11-21T17:00:01'))
    # A is refused, B (behind it) goes out in the same round
    assert s.deliver_due() == 30.0
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    assert [n.instance_uuid for n in spooled(spool)] == [A]
    # a later one is sent at once, not after A's 30 s
    clock.now += 1.0
    notifier.results.append(OK)
    s.submit(note(C, '2026-11-21T17:00:02'))
    assert s.deliver_due() == pytest.approx(29.0)
    assert [n.instance_uuid for n in notifier.sent] == [A, B, C]
    clock.now += 29.0
    s.deliver_due()
    assert [n.instance_uuid for n in notifier.sent] == [A, B, C, A]


def test_the_host_sent_is_the_configured_one(spool, clock):
    notifier = FakeNotifier(OK)
    s = sender(spool, notifier, clock, hostname='compute-1.example.org')
    s.submit(note(A))          # decided under the name 'compute-1'
    assert spooled(spool)[0].hostname == 'compute-1'
    s.deliver_due()
    assert [n.hostname for n in notifier.sent] == ['compute-1.example.org']
    assert notifier.sent[0].body()['notification']['hostname'] == \
        'compute-1.example.org'
    assert spooled(spool) == []


def test_fixing_the_host_delivers_the_refused_entries(tmp_path, clock, caplog):
    """Wrong host: 400 and an ERROR naming it; fixed and restarted: sent."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    directory = tmp_path / 'spool'
    refused = FakeNotifier(default=BAD)
    s = sender(Spool(directory, 10), refused, clock, hostname='wrong-name')
    s.submit(note(A, '2026-11-21T17:00:00'))
    s.submit(note(B, '2026-11-21T17:00:01'))
    for _ in range(3):
        clock.now += s.deliver_due()
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR]
    assert len(errors) == 2            # one per entry, not per attempt
    assert all('wrong-name' in e for e in errors)
    # the operator fixes [DEFAULT] host and restarts the service
    accepted = FakeNotifier(default=OK)
    again = sender(Spool(directory, 10), accepted, clock, hostname='good')
    assert again.deliver_due() is None
    assert [(n.instance_uuid, n.hostname) for n in accepted.sent] == [
        (A, 'good'), (B, 'good')]
    assert len(Spool(directory, 10)) == 0


def test_withdraw_drops_the_pending_entry_and_says_so(spool, clock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    notifier = FakeNotifier(DOWN, default=OK)
    s = sender(spool, notifier, clock)
    s.submit(note(A, '2026-11-21T17:00:00'))
    s.submit(note(B, '2026-11-21T17:00:01'))
    clock.now += s.deliver_due()       # the API is down
    s.withdraw(A, 'the guest agent answers again')
    s.withdraw(C, 'nothing pending for it')
    assert drive(s, clock) == []
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith('Withdrew')]
    assert lines == ['Withdrew the pending notification for %s: the guest '
                     'agent answers again' % A]
    assert spooled(spool) == []


def test_withdraw_keeps_a_newer_notification_out_of_reach(spool, clock):
    notifier = FakeNotifier(default=OK)
    s = sender(spool, notifier, clock)
    s.withdraw(A, 'left the host')
    assert s.submit(note(A))
    s.withdraw(A, 'answers again')
    assert s.submit(note(A, '2026-11-21T17:09:00'))   # a new episode
    s.deliver_due()
    assert [n.generated_time for n in notifier.sent] == ['2026-11-21T17:09:00']


def test_maintenance_is_not_delivery(spool, clock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    notifier = FakeNotifier(MAINT, OK, MAINT, MAINT, MAINT, OK)
    s = sender(spool, notifier, clock, retry_interval_max=30.0)
    s.submit(note(A, '2026-11-21T17:00:00'))
    s.submit(note(B, '2026-11-21T17:00:01'))
    assert s.deliver_due() == 30.0
    # B was not held up
    assert [n.instance_uuid for n in notifier.sent] == [A, B]
    assert [n.instance_uuid for n in spooled(spool)] == [A]
    for _ in range(3):
        clock.now += 30.0
        assert s.deliver_due() == 30.0
    assert len(spooled(spool)) == 1
    clock.now += 30.0
    assert s.deliver_due() is None       # maintenance ended: sent
    assert [n.instance_uuid for n in notifier.sent] == [A, B, A, A, A, A]
    assert spooled(spool) == []
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if 'on maintenance' in m and
                r'kept' in m]) == 1
    assert len([m for m in messages if 'no longer on maintenance' in m]) == 1


def test_each_attempt_is_marked_started_first(tmp_path, clock):
    spool = Spool(tmp_path / 'spool', 10)
    notifier = FakeNotifier(DOWN, OK, spool=spool)
    s = sender(spool, notifier, clock)
    s.submit(note(A))
    assert not spool.entries()[0].announced
    drive(s, clock)
    assert notifier.started_before_send == [(True, 'token-1'),
                                            (True, 'token-2')]
    # the second attempt asked first whether the first had taken effect
    assert notifier.asked == [(A, 'token-1')]


def test_an_entry_started_before_a_crash_is_not_sent_twice(tmp_path, clock,
                                                           caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    directory = tmp_path / 'spool'
    first = Spool(directory, 10)
    first.add(note(A, '2026-11-21T17:00:00'))
    first.add(note(B, '2026-11-21T17:00:01'))
    first.add(note(C, '2026-11-21T17:00:02'))
    # the earlier process was killed after starting A and B
    first.mark_announced(note(A, '2026-11-21T17:00:00'), 'a-token')
    first.mark_announced(note(B, '2026-11-21T17:00:01'), 'b-token')
    notifier = FakeNotifier(default=OK, settled=[THERE, None])
    s = sender(Spool(directory, 10), notifier, clock)
    assert s.deliver_due() is None
    assert notifier.asked == [(A, 'a-token'), (B, 'b-token')]
    # A was there already; B was not, C never started: both sent once
    assert [n.instance_uuid for n in notifier.sent] == [B, C]
    assert spooled(Spool(directory, 10)) == []
    assert any('took effect' in r.getMessage() and A in r.getMessage()
               for r in caplog.records)


def test_cannot_tell_whether_it_took_effect_backs_off(tmp_path, clock):
    directory = tmp_path / 'spool'
    Spool(directory, 10).add(note(A))
    Spool(directory, 10).mark_announced(note(A), '')
    notifier = FakeNotifier(default=OK, settled=[DOWN, DOWN, None])
    s = sender(Spool(directory, 10), notifier, clock)
    assert drive(s, clock) == [2.0, 4.0]
    assert len(notifier.asked) == 3
    assert len(notifier.sent) == 1


class SpoolFailingRemoval(Spool):
    def __init__(self, *args, failures=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = failures

    def remove(self, notification):
        if self.failures:
            self.failures -= 1
            raise OSError(5, 'Input/output error')
        super().remove(notification)


def test_a_failed_removal_does_not_send_again(tmp_path, clock):
    spool = SpoolFailingRemoval(tmp_path / 'spool', 10)
    notifier = FakeNotifier(default=OK)
    s = sender(spool, notifier, clock)
    s.submit(note(A))
    assert s.deliver_due() == 2.0          # the removal is tried again
    assert len(spooled(spool)) == 1       # removal failed
    assert s.deliver_due() is None
    assert spooled(spool) == []
    assert len(notifier.sent) == 1


def test_dry_run_withdraw_is_a_no_op(caplog):
    from masakari_introspect.recovery.dry_run import DryRunOutbox
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    box = DryRunOutbox()
    box.withdraw(A, 'answers again')
    assert caplog.records == []
