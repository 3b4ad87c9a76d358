"""One broken entry or driver call blocks no other entry and never ends
the sender's pass."""

import logging

from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import A, B
from tests.unit.test_delivery_schedule import Bed
from tests.unit.test_delivery_schedule import Driver
from tests.unit.test_delivery_schedule import attempts

LOGGER = 'masakari_introspect'


def test_a_driver_that_raises_for_one_entry_blocks_no_other(
        tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    driver = Driver()
    send = driver.send

    def send_or_raise(notification):
        if notification.instance_uuid == A:
            raise RuntimeError('a bug in the driver')
        return send(notification)

    driver.send = send_or_raise
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    bed.submit(B, 5)
    assert bed.sender.deliver_due() == 2.0    # A backs off alone
    assert attempts(driver, B) == 1 and bed.pending() == [A]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and A in errors[0].getMessage()
    assert errors[0].exc_info is not None


class SpoolFailingMark(Spool):
    def mark_announced(self, notification, token):
        if notification.instance_uuid == A:
            raise OSError(13, 'Permission denied')
        return super().mark_announced(notification, token)


def test_an_entry_that_cannot_be_marked_started_blocks_no_other(
        tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    driver = Driver()
    bed = Bed(tmp_path, driver)
    bed.spool = bed.sender._spool = SpoolFailingMark(tmp_path / 'spool', 10)
    bed.submit(A)
    bed.submit(B, 5)
    assert bed.sender.deliver_due() == 2.0
    assert attempts(driver, A) == 0          # not sent unmarked
    assert attempts(driver, B) == 1 and bed.pending() == [A]
    assert any(A in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


def test_an_unreadable_and_a_corrupt_file_block_no_other(tmp_path, caplog):
    driver = Driver()
    bed = Bed(tmp_path, driver)
    bed.submit(A)
    bed.submit(B, 5)
    (tmp_path / 'spool' / (A + '.json')).write_text('{"version": 1')
    (tmp_path / 'spool' / 'x.json').mkdir()     # read() fails: OSError
    assert bed.sender.deliver_due() is None
    assert attempts(driver, B) == 1 and attempts(driver, A) == 0
    assert (tmp_path / 'spool' / 'corrupt' / (A + '.json')).exists()


def test_an_entry_unreadable_for_a_moment_is_read_again_later(tmp_path):
    failures = {A: 1}

    def read(path):
        uuid = path.name.removesuffix('.json')
        if failures.get(uuid):
            failures[uuid] -= 1
            raise OSError(5, 'Input/output error')
        return path.read_bytes()

    driver = Driver()
    bed = Bed(tmp_path, driver)
    bed.spool = bed.sender._spool = Spool(tmp_path / 'spool', 10, read=read)
    bed.spool.add(bed.note(A))          # spooled before a restart, say
    wait = bed.sender.deliver_due()
    assert attempts(driver, A) == 0
    assert wait is not None             # not asleep until the next submit
    bed.clock.advance(wait)
    assert bed.sender.deliver_due() is None
    assert attempts(driver, A) == 1 and bed.pending() == []


class SpoolFailingReplace(Spool):
    failures = 1

    def replace(self, notification, renewed):
        if self.failures:
            self.failures -= 1
            raise OSError(28, 'No space left on device')
        return super().replace(notification, renewed)


def test_a_renewal_that_cannot_be_written_is_retried(tmp_path):
    from tests.unit.test_delivery_schedule import DUP, OK
    driver = Driver('Masakari API', outage_wide=True, **{A: [OK, DUP, OK]})
    bed = Bed(tmp_path, driver)
    bed.spool = bed.sender._spool = SpoolFailingReplace(tmp_path / 'spool',
                                                        10)
    bed.submit(A)
    bed.run_for(20.0)
    bed.submit(A, 20)
    bed.run_for(161.0)                 # the window passes; renewal fails
    assert bed.pending() == [A]
    assert bed.sender.deliver_due() is not None   # retried, not forgotten
    bed.run_for(10.0)
    assert bed.pending() == [] and attempts(driver, A) == 3
    assert driver.times(A)[-1] >= '2026-11-21T17:03:01'
