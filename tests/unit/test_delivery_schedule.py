"""The sender's schedules: every entry on its own, on the monotonic clock;
Masakari's duplicate window; withdrawals caused by the recovery itself."""

import collections
import datetime
import logging

import pytest

from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.duplicate_window import AcceptedLog
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import A, B, C, FakeClock

OK = DeliveryResult(Delivery.DELIVERED, 202, '')
DUP = DeliveryResult(Delivery.DUPLICATE, 409, 'is duplicate.')
DOWN = DeliveryResult(Delivery.TRANSIENT, None, 'ConnectFailure: refused')
HOOK_FAILED = DeliveryResult(Delivery.TRANSIENT, None,
                             'hook exited with status 1')
HAS_IT = DeliveryResult(Delivery.DELIVERED, 200, 'Masakari has it as n-1')
LOGGER = 'masakari_introspect'
EPOCH = datetime.datetime(2026, 11, 21, 17, 0, 0)
T0 = EPOCH.replace(tzinfo=datetime.timezone.utc).timestamp()


class Driver:
    """Answers per instance from scripts; a default for the rest."""

    def __init__(self, name='Recovery command', outage_wide=False,
                 default=OK, **scripts):
        self.name = name
        self.outage_wide = outage_wide
        self.default = default
        self.scripts = {uuid: collections.deque(results)
                        for uuid, results in scripts.items()}
        self.sent = []
        self.checks = collections.deque()
        self.during_send = None

    def begin(self, notification):
        return 'pid-1'

    def send(self, notification):
        self.sent.append(notification)
        if self.during_send is not None:
            self.during_send(notification)
        script = self.scripts.get(notification.instance_uuid)
        return script.popleft() if script else self.default

    def settled(self, notification, token):
        return self.checks.popleft() if self.checks else None

    def times(self, uuid):
        return [n.generated_time for n in self.sent
                if n.instance_uuid == uuid]


class Bed:
    def __init__(self, tmp_path, driver, **kwargs):
        self.clock = FakeClock(1000.0)
        self.wall = FakeClock(T0)
        self.spool = Spool(tmp_path / 'spool', 100)
        self.accepted_path = tmp_path / 'spool' / 'last-accepted'
        self.driver = driver
        kwargs.setdefault('retry_interval', 2.0)
        kwargs.setdefault('retry_interval_max', 60.0)
        kwargs.setdefault('duplicate_window', 180.0)
        self.sender = Sender(
            self.spool, driver, clock=self.clock, wall=self.wall,
            accepted=AcceptedLog(self.accepted_path, clock=self.clock),
            **kwargs)

    def note(self, uuid, offset=0):
        when = EPOCH + datetime.timedelta(seconds=offset)
        return Notification(uuid, 'compute-1', when.isoformat(),
                            'id-%s-%d' % (uuid, offset))

    def submit(self, uuid, offset=0):
        assert self.sender.submit(self.note(uuid, offset))

    def run_for(self, seconds):
        """Let ``seconds`` pass, attempting whatever falls due."""
        end = self.clock.now + seconds
        while True:
            wait = self.sender.deliver_due()
            last = wait is None or self.clock.now + wait > end
            if last:
                wait = end - self.clock.now
            self.clock.advance(wait)
            self.wall.advance(wait)    # the wall clock moves along
            if last:
                return

    def pending(self):
        return [e.notification.instance_uuid for e in self.spool.entries()]


def attempts(driver, uuid):
    return sum(1 for n in driver.sent if n.instance_uuid == uuid)


# -- item 1: every entry on its own schedule --------------------------------

def test_a_failing_entry_backs_off_alone_and_a_new_one_goes_at_once(
        tmp_path):
    driver = Driver(default=OK, **{A: [HOOK_FAILED] * 100})
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    waits = [bed.sender.deliver_due()]
    for _ in range(6):
        bed.clock.advance(waits[-1])
        waits.append(bed.sender.deliver_due())
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    bed.clock.advance(10.0)            # A is not due for 50 s
    bed.submit(B, 5)
    before = attempts(driver, A)
    assert bed.sender.deliver_due() == pytest.approx(50.0)
    assert attempts(driver, B) == 1    # at once, not behind A
    assert attempts(driver, A) == before
    assert bed.pending() == [A]


def test_sixteen_hours_of_a_failing_hook_delay_no_other_guest(tmp_path):
    driver = Driver(default=OK, **{A: [HOOK_FAILED] * 10000})
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    for hour in range(16):
        bed.run_for(3600.0)
        bed.submit(C if hour % 2 else B, hour + 1)
        assert bed.sender.deliver_due() is not None
        assert bed.pending() == [A]
    assert attempts(driver, B) == 8 and attempts(driver, C) == 8
    # A: about once a minute, never more often than retry_interval_max
    assert 16 * 60 - 10 <= attempts(driver, A) <= 16 * 60 + 10


def test_a_failing_hook_is_logged_once_per_entry(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    driver = Driver(default=OK, **{A: [HOOK_FAILED] * 5})
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    bed.run_for(600.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert A in warnings[0].getMessage()
    assert 'retried alone' in warnings[0].getMessage()
    assert bed.pending() == []
    assert attempts(driver, A) == 6


def test_an_outage_then_recovery_delivers_each_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    driver = Driver('Masakari API', outage_wide=True, default=DOWN)
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    bed.run_for(30.0)
    bed.submit(B, 30)
    bed.run_for(1.0)
    assert attempts(driver, B) == 1    # tried at once, though A failed
    bed.run_for(300.0)
    driver.default = OK
    bed.run_for(61.0)
    assert bed.pending() == []
    assert driver.sent[-2:] != driver.sent[-1:] * 2
    assert sorted(n.instance_uuid for n in driver.sent[-2:]) == [A, B]
    messages = [r.getMessage() for r in caplog.records]
    assert sum('Masakari API unavailable' in m for m in messages) == 1
    assert sum('reachable again' in m for m in messages) == 1


def test_pending_view_shows_age_attempts_and_last_error(tmp_path):
    driver = Driver(default=OK, **{A: [HOOK_FAILED] * 10})
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    bed.run_for(7.0)                    # attempts at 0, 2 and 6 s
    (view,) = bed.sender.pending_view()
    assert view.instance_uuid == A
    assert view.age == pytest.approx(7.0)
    assert view.attempts == 3
    assert view.last_error == 'hook exited with status 1'
    assert view.next_attempt == pytest.approx(7.0)   # 6 + 8 - 7
    bed.submit(B, 1)
    bed.run_for(0.0)
    assert [v.instance_uuid for v in bed.sender.pending_view()] == [A]


# -- item 3: the monotonic clock alone schedules ----------------------------

def test_a_wall_clock_step_back_changes_no_schedule(tmp_path):
    driver = Driver(default=OK, **{A: [HOOK_FAILED] * 3})
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    assert bed.sender.deliver_due() == 2.0
    bed.wall.advance(-3600.0)           # monotonic untouched
    bed.submit(B, -3590)                # decided after the step
    assert bed.sender.deliver_due() == pytest.approx(2.0)
    assert attempts(driver, B) == 1
    bed.clock.advance(2.0)
    assert bed.sender.deliver_due() == pytest.approx(4.0)
    assert attempts(driver, A) == 2


# -- item 4: Masakari's duplicate window -----------------------------------

def dup_bed(tmp_path, **scripts):
    driver = Driver('Masakari API', outage_wide=True, default=OK, **scripts)
    return Bed(tmp_path, driver), driver


def test_a_new_failure_within_the_window_is_sent_after_it(tmp_path,
                                                          caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    bed, driver = dup_bed(tmp_path, **{A: [OK, DUP, OK]})
    bed.submit(A)                      # the first report, accepted
    bed.run_for(20.0)
    bed.submit(A, 20)                  # it hangs again 20 s later
    assert bed.sender.deliver_due() == pytest.approx(161.0)
    assert bed.pending() == [A]
    bed.run_for(160.0)
    assert attempts(driver, A) == 2    # not before the window passed
    bed.run_for(1.0)
    assert bed.pending() == []
    # generated past the window of the first: 17:00:00 + 181 s
    assert driver.times(A) == ['2026-11-21T17:00:00', '2026-11-21T17:00:20',
                               '2026-11-21T17:03:01']
    assert any('duplicate_window' in r.getMessage() for r in caplog.records
               if r.levelno == logging.INFO)


def test_after_a_backward_step_the_renewed_time_is_past_the_window(
        tmp_path):
    bed, driver = dup_bed(tmp_path, **{A: [OK, DUP, OK]})
    bed.submit(A)
    bed.run_for(10.0)
    bed.wall.advance(-3600.0)
    bed.submit(A, 10 - 3600)           # an hour "before" the first report
    bed.run_for(172.0)
    assert bed.pending() == []
    assert driver.times(A)[-1] == '2026-11-21T17:03:01'


def test_a_duplicate_after_the_window_is_an_error_and_backs_off(
        tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    bed, driver = dup_bed(tmp_path, **{A: [OK, DUP, DUP, DUP, OK]})
    bed.submit(A)
    bed.run_for(20.0)
    bed.submit(A, 20)
    bed.run_for(161.0)                 # the window, then a second 409
    errors = [r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR]
    assert len(errors) == 1 and 'duplicate_window' in errors[0]
    assert attempts(driver, A) == 3
    assert bed.sender.deliver_due() == pytest.approx(2.0)   # backoff
    bed.run_for(10.0)
    assert bed.pending() == []
    assert len([r for r in caplog.records
                if r.levelno == logging.ERROR]) == 1
    # every resend later than the one before: the wall clock moves on
    times = driver.times(A)[2:]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_a_409_for_a_resend_of_the_same_notification_is_delivery(
        tmp_path):
    bed, driver = dup_bed(tmp_path, **{A: [DOWN, DUP]})
    # the check before the resend does not see the timed-out POST yet;
    # the one after the 409 does
    driver.checks.extend([None, HAS_IT])
    bed.submit(A)
    bed.run_for(2.0)
    assert bed.pending() == []
    assert driver.times(A) == ['2026-11-21T17:00:00'] * 2


def test_a_409_for_a_resend_that_masakari_lacks_is_a_new_failure(tmp_path):
    bed, driver = dup_bed(tmp_path, **{A: [DOWN, DUP, OK]})
    bed.submit(A)
    bed.run_for(2.0)
    assert bed.pending() == [A]         # not counted as delivered
    bed.run_for(181.0)
    assert bed.pending() == []
    # no earlier report known: the window counts from the 409 (at 2 s)
    assert driver.times(A)[-1] == '2026-11-21T17:03:03'


def test_the_last_report_survives_a_restart(tmp_path):
    bed, driver = dup_bed(tmp_path, **{A: [OK]})
    bed.submit(A)
    bed.run_for(30.0)
    bed.submit(A, 30)                  # pending when the service stops
    # a new process: fresh monotonic clock, same files
    later, again = dup_bed(tmp_path, **{A: [DUP, OK]})
    later.clock.now = 7.0
    later.wall.now = bed.wall.now + 5.0
    assert later.pending() == [A]
    wait = later.sender.deliver_due()
    # the first report was generated 35 s ago: 146 s of the window left
    assert wait == pytest.approx(146.0)
    later.run_for(146.0)
    assert later.pending() == []
    assert again.times(A)[-1] == '2026-11-21T17:03:01'


def test_a_started_entry_is_checked_first_after_a_restart(tmp_path):
    bed, driver = dup_bed(tmp_path)
    note = bed.note(A)
    bed.spool.add(note)
    bed.spool.mark_announced(note, 'pid-1')   # killed after the POST
    driver.checks.append(HAS_IT)
    assert bed.sender.deliver_due() is None
    assert driver.sent == []
    assert bed.pending() == []


# -- item 5: the recovery's own effects --------------------------------------

def test_the_recoverys_own_stop_and_start_do_not_withdraw(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    driver = Driver('libvirt recovery', **{A: [HOOK_FAILED, OK]})
    bed = Bed(tmp_path, driver, linger=15.0)

    def own_effects(notification):
        bed.sender.withdraw(A, 'left the host: domain stopped (destroyed)',
                            WithdrawCause.LEFT_HOST)

    driver.during_send = own_effects
    bed.submit(A)
    assert bed.sender.deliver_due() == 2.0
    assert bed.pending() == [A]         # kept through its own destroy
    bed.clock.advance(1.0)              # the start's event, within linger
    bed.sender.withdraw(A, 'new QEMU process', WithdrawCause.NEW_PROCESS)
    assert bed.pending() == [A]
    bed.clock.advance(1.0)
    driver.during_send = None
    assert bed.sender.deliver_due() is None   # the retry succeeds
    assert bed.pending() == []
    assert any('comes from the recovery under way' in r.getMessage()
               for r in caplog.records)


def test_a_new_process_after_the_linger_time_withdraws(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    driver = Driver(default=HOOK_FAILED)
    bed = Bed(tmp_path, driver, linger=15.0)
    bed.submit(A)
    bed.sender.deliver_due()
    bed.clock.advance(16.0)
    bed.sender.withdraw(A, 'new QEMU process', WithdrawCause.NEW_PROCESS)
    assert bed.pending() == []
    assert any('Withdrew the pending notification for %s: new QEMU process'
               % A in r.getMessage() for r in caplog.records)


def test_an_answer_withdraws_even_during_the_linger_time(tmp_path):
    driver = Driver(default=HOOK_FAILED)
    bed = Bed(tmp_path, driver, linger=15.0)
    bed.submit(A)
    bed.sender.deliver_due()
    bed.sender.withdraw(A, 'the guest answers again',
                        WithdrawCause.ANSWERED)
    assert bed.pending() == []


def test_another_instance_is_not_shielded(tmp_path):
    driver = Driver(default=HOOK_FAILED)
    bed = Bed(tmp_path, driver, linger=15.0)
    bed.submit(A)
    bed.submit(B, 1)
    driver.during_send = lambda n: n.instance_uuid == A and \
        bed.sender.withdraw(B, 'new QEMU process', WithdrawCause.NEW_PROCESS)
    bed.sender.deliver_due()
    assert bed.pending() == [A]


def test_every_attempt_is_counted_once(tmp_path):
    seen = []
    driver = Driver('Masakari API', outage_wide=True,
                    **{A: [OK, DOWN, DUP, OK]})
    bed = Bed(tmp_path, driver,
              on_result=lambda n, r: seen.append(r.delivery))
    bed.submit(A)
    bed.run_for(20.0)
    bed.submit(A, 20)
    bed.run_for(400.0)
    assert bed.pending() == []
    assert seen == [Delivery.DELIVERED, Delivery.TRANSIENT,
                    Delivery.DUPLICATE, Delivery.DELIVERED]


def test_a_driver_that_announces_no_domain_is_shielded_only_in_flight(
        tmp_path):
    """The Masakari driver (token ''): during an outage, a guest started
    again by hand is withdrawn right after a failed POST."""
    driver = Driver('Masakari API', outage_wide=True, default=DOWN)
    driver.begin = lambda notification: ''
    kept = []
    driver.during_send = lambda n: kept.append(bed.sender.withdraw(
        A, 'new QEMU process', WithdrawCause.NEW_PROCESS))
    bed = Bed(tmp_path, driver, linger=15.0)
    bed.submit(A)
    assert bed.sender.deliver_due() is None
    # the fleet says it once, in flight: applied when the POST failed
    assert len(kept) == 1 and bed.pending() == []
    assert len(driver.sent) == 1


def test_a_new_process_in_flight_of_an_announced_domain_is_its_own(
        tmp_path):
    driver = Driver('libvirt recovery', default=HOOK_FAILED)
    driver.during_send = lambda n: bed.sender.withdraw(
        A, 'new QEMU process', WithdrawCause.NEW_PROCESS)
    bed = Bed(tmp_path, driver, linger=15.0)
    bed.submit(A)
    bed.sender.deliver_due()
    assert bed.pending() == [A]


def test_withdraw_says_whether_a_notification_was_pending(tmp_path):
    bed = Bed(tmp_path, Driver(default=HOOK_FAILED), linger=15.0)
    bed.submit(A)
    assert bed.sender.withdraw(A, 'put in maintenance',
                               WithdrawCause.MAINTENANCE) is True
    assert bed.sender.withdraw(A, 'put in maintenance',
                               WithdrawCause.MAINTENANCE) is False
