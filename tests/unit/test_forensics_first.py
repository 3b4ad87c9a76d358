"""Forensics first: a local driver acts only once the capture is written
or its budget is spent; the Masakari driver is not held."""

import threading

from masakari_introspect.core.actions import Report
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.forensics import Recorder
from masakari_introspect.recovery.forensics_first import Captures
from masakari_introspect.recovery.forensics_first import ForensicsFirst
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from masakari_introspect.runtime.reporter import Reporter
from tests.unit.fakes import A, FakeClock

DONE = DeliveryResult(Delivery.DELIVERED, None, 'reset')


class SlowCapture:
    """A screenshot that comes only when the test lets it."""

    def __init__(self, order):
        self.order = order
        self.release = threading.Event()

    def screenshot(self, uuid):
        self.release.wait(10)
        self.order.append('screenshot')
        return b'P6 1 1 255 \x00\x00\x00', 'image/x-portable-pixmap'

    def domain_xml(self, uuid):
        return '<domain/>'


class ResettingDriver:
    name = 'libvirt recovery'

    def __init__(self, order):
        self.order = order

    def begin(self, notification):
        return '1'

    def send(self, notification):
        self.order.append('reset')
        return DONE

    def settled(self, notification, token):
        return None


def test_the_driver_acts_after_the_capture(tmp_path):
    order = []
    capture = SlowCapture(order)
    recorder = Recorder(tmp_path / 'forensics', 3, capture, budget=30.0)
    sender = Sender(Spool(tmp_path / 'spool', 10),
                    ForensicsFirst(ResettingDriver(order), recorder.captures),
                    retry_interval=1, retry_interval_max=5,
                    clock=FakeClock(0.0))
    reporter = Reporter(sender, recorder, None)
    notification = Notification.create(A, 'compute-1', instance_name='vm-a',
                                       reason='unresponsive')
    assert reporter.report(Report(notification, {}, ()))
    delivering = threading.Thread(target=sender.deliver_due)
    delivering.start()
    delivering.join(0.3)
    assert order == []                  # the driver waits for the capture
    capture.release.set()
    delivering.join(10)
    assert order == ['screenshot', 'reset']
    reporter.lane.close(5)


def test_the_wait_ends_when_the_budget_is_spent():
    clock = FakeClock(0.0)
    captures = Captures(1.0, clock)
    captures.begun('/f/1')
    clock.advance(1.0)
    captures.wait('/f/1')               # returns: the budget is spent
    captures.begun('/f/2')
    captures.ended('/f/2')
    captures.wait('/f/2')               # returns: written
    captures.wait('/f/unknown')         # e.g. reserved before a restart


def test_a_notification_without_forensics_is_sent_at_once():
    order = []
    captures = Captures(60.0)
    captures.begun('/f/1')              # never ends
    driver = ForensicsFirst(ResettingDriver(order), captures)
    notification = Notification.create(A, 'compute-1')
    assert driver.send(notification) is DONE
    assert driver.name == 'libvirt recovery'
    assert driver.begin(notification) == '1'
    assert driver.settled(notification, '1') is None
