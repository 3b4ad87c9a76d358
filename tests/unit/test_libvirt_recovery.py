"""The libvirt recovery driver's decisions, on a fake domain (no libvirt)."""

import contextlib
import logging

import pytest

from masakari_introspect.core.actions import WithdrawCause
from masakari_introspect.core.model import DomainActionFailed
from masakari_introspect.core.model import DomainStatus
from masakari_introspect.core.model import Power
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.libvirt import STOP_EVENT_MARGIN
from masakari_introspect.recovery.libvirt import LibvirtRecovery
from masakari_introspect.recovery.sender import Sender
from masakari_introspect.recovery.spool import Spool
from tests.unit.fakes import FakeClock

UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f'
LOGGER = 'masakari_introspect.recovery.libvirt'


def note():
    return Notification(UUID, 'compute-1', '2026-11-21T17:00:00', 'id-1',
                        instance_name='web-1', reason='unresponsive')


class FakeDomain:
    """A domain with libvirt's state rules; records the calls made."""

    def __init__(self, power=Power.RUNNING, persistent=True, reason='',
                 domain_id=7, agent_after=0):
        self.power, self.persistent, self.reason = power, persistent, reason
        self.domain_id = domain_id if power is not Power.SHUT_OFF else -1
        self.next_id = 20
        self.calls = []
        self.fail = {}          # call -> errors still to raise
        self.exists = True
        self.agent_after = agent_after
        self.pings = 0

    def _enter(self, call):
        self.calls.append(call)
        if self.fail.get(call):
            self.fail[call] -= 1
            raise DomainActionFailed('%s failed: storage hiccup' % call)

    def status(self):
        return DomainStatus(self.domain_id, self.persistent, self.power,
                            self.reason)

    def reset(self):
        self._enter('reset')
        assert self.power is not Power.SHUT_OFF
        # a reset leaves a paused domain paused
        if self.power is Power.RUNNING:
            self.reason = ''

    def destroy(self):
        self._enter('destroy')
        assert self.power is not Power.SHUT_OFF
        self.power, self.domain_id = Power.SHUT_OFF, -1
        self.reason = 'destroyed'
        if not self.persistent:
            self.exists = False

    def start(self):
        self._enter('start')
        assert self.power is Power.SHUT_OFF
        self.power, self.reason = Power.RUNNING, ''
        self.domain_id, self.next_id = self.next_id, self.next_id + 1

    def resume(self):
        self._enter('resume')
        assert self.power in (Power.STUCK, Power.PAUSED)
        self.power, self.reason = Power.RUNNING, ''

    def agent_answers(self):
        self.pings += 1
        return self.pings > self.agent_after


class FakeDomains:
    def __init__(self, domain):
        self.domain = domain
        self.unreachable = False

    @contextlib.contextmanager
    def session(self, uuid):
        if self.unreachable:
            raise DomainActionFailed('cannot connect to libvirt')
        if uuid != UUID or not self.domain.exists:
            raise DomainActionFailed('no such domain on this host',
                                     gone=True)
        yield self.domain


def make(domain, action='reset', wait=30.0):
    clock = FakeClock(0.0)
    return LibvirtRecovery(FakeDomains(domain), action, agent_wait=wait,
                           clock=clock, sleep=clock.advance)


def run(driver):
    result = driver.send(note())
    for thread in driver.watchers:
        thread.join(5)
    return result


def test_a_running_domain_is_reset_in_its_qemu_process(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    domain = FakeDomain(agent_after=3)
    driver = make(domain, 'reset')
    assert driver.begin(note()) == '7'
    result = run(driver)
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['reset'] and domain.domain_id == 7
    assert any('answered again 3.0 s later' in r.getMessage()
               for r in caplog.records)


def test_a_running_domain_is_restarted_as_a_new_process():
    domain = FakeDomain()
    driver = make(domain, 'restart')
    token = driver.begin(note())
    result = run(driver)
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['destroy', 'start']
    assert 'as id 20' in result.message
    settled = driver.settled(note(), token)
    assert settled is not None and settled.delivery is Delivery.DELIVERED


def test_a_transient_running_domain_is_reset_instead_of_restarted():
    domain = FakeDomain(persistent=False)
    result = run(make(domain, 'restart'))
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['reset'] and domain.exists
    assert 'transient' in result.message


@pytest.mark.parametrize('action', ['reset', 'restart'])
@pytest.mark.parametrize('reason', ['crashed', 'failed', 'daemon'])
def test_a_domain_shut_off_by_a_crash_is_started(action, reason):
    domain = FakeDomain(power=Power.SHUT_OFF, reason=reason)
    driver = make(domain, action)
    assert driver.begin(note()) == '-1'
    result = run(driver)
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['start'] and domain.power is Power.RUNNING


@pytest.mark.parametrize('reason', ['ioerror', 'watchdog', 'crashed'])
def test_a_persistent_domain_stuck_paused_is_destroyed_and_started(reason):
    domain = FakeDomain(power=Power.STUCK, reason=reason)
    result = run(make(domain, 'reset'))
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['destroy', 'start']
    assert reason in result.message


def test_a_transient_domain_stuck_paused_is_reset_and_resumed():
    domain = FakeDomain(power=Power.STUCK, reason='ioerror', persistent=False)
    result = run(make(domain, 'restart'))
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['reset', 'resume']
    assert domain.power is Power.RUNNING and domain.domain_id == 7


@pytest.mark.parametrize('reason', ['shutdown', 'destroyed', 'saved', ''])
def test_a_domain_shut_off_on_purpose_is_not_started(caplog, reason):
    # The operator shut the guest down between the report and the attempt
    # (or while the monitor was down): starting it would undo that.
    caplog.set_level(logging.INFO, logger=LOGGER)
    domain = FakeDomain(power=Power.SHUT_OFF, reason=reason)
    result = run(make(domain, 'restart'))
    assert domain.calls == [] and domain.power is Power.SHUT_OFF
    assert result.delivery.done
    assert any('not started' in r.getMessage() for r in caplog.records)


def test_a_domain_paused_on_purpose_is_left_alone_and_tried_later():
    domain = FakeDomain(power=Power.PAUSED, reason='user')
    result = run(make(domain))
    assert result.delivery is Delivery.TRANSIENT
    assert domain.calls == [] and 'user' in result.message


def test_a_domain_still_paused_after_the_action_is_not_recovered():
    domain = FakeDomain(power=Power.STUCK, reason='ioerror', persistent=False)
    domain.resume = lambda: domain.calls.append('resume')   # stays paused
    result = run(make(domain))
    assert result.delivery is Delivery.TRANSIENT
    assert 'stuck (ioerror)' in result.message


def test_a_transient_domain_that_is_gone_cannot_be_recovered(caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    domain = FakeDomain(persistent=False)
    domain.exists = False
    driver = make(domain)
    assert driver.begin(note()) == ''
    result = run(driver)
    assert result.delivery is Delivery.UNRECOVERABLE
    assert result.delivery.done
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and 'cannot be recovered' in \
        errors[0].getMessage()


def test_an_unreachable_libvirt_is_transient():
    domains = FakeDomains(FakeDomain())
    domains.unreachable = True
    driver = LibvirtRecovery(domains, 'reset')
    assert driver.send(note()).delivery is Delivery.TRANSIENT
    settled = driver.settled(note(), '7')
    assert settled is not None and settled.delivery is Delivery.TRANSIENT


def test_a_failed_start_is_transient_and_the_retry_starts_the_domain():
    domain = FakeDomain()
    domain.fail['start'] = 1
    driver = make(domain, 'restart')
    first = run(driver)
    assert first.delivery is Delivery.TRANSIENT
    assert 'starting it is retried' in first.message
    assert domain.power is Power.SHUT_OFF
    # the attempt lasted until the stop event of its destroy was in
    assert driver._clock() == STOP_EVENT_MARGIN
    assert driver.begin(note()) == '-1'
    second = run(driver)
    assert second.delivery is Delivery.DELIVERED
    assert domain.calls == ['destroy', 'start', 'start']
    assert domain.power is Power.RUNNING


def test_after_a_crash_between_destroy_and_start_the_domain_is_started():
    domain = FakeDomain()
    token = make(domain, 'restart').begin(note())
    domain.destroy()                 # ... and the monitor died here
    driver = make(domain, 'restart')   # the next process
    assert driver.settled(note(), token) is None     # not done: go on
    result = run(driver)
    assert result.delivery is Delivery.DELIVERED
    assert domain.calls == ['destroy', 'start']


def test_after_a_crash_a_domain_running_the_same_process_is_not_done():
    domain = FakeDomain()
    driver = make(domain, 'reset')
    assert driver.settled(note(), driver.begin(note())) is None
    assert driver.settled(note(), '') is None


def test_an_agent_that_stays_silent_is_logged(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    domain = FakeDomain(agent_after=10 ** 6)
    assert run(make(domain, wait=5.0)).delivery is Delivery.DELIVERED
    assert any('did not answer within 5 s' in r.getMessage()
               for r in caplog.records)


def test_unknown_action():
    with pytest.raises(ValueError):
        LibvirtRecovery(FakeDomains(FakeDomain()), 'reboot')


def test_exactly_once_and_retried_through_the_sender(tmp_path):
    domain = FakeDomain()
    domain.fail['start'] = 1
    driver = make(domain, 'restart')
    clock = FakeClock(0.0)
    spool = Spool(tmp_path / 'spool', 10)
    sender = Sender(spool, driver, retry_interval=1, retry_interval_max=5,
                    clock=clock)
    sender.submit(note())
    wait = sender.deliver_due()
    assert wait is not None and wait > 0          # backing off
    assert len(spool) == 1
    clock.advance(wait)
    sender.deliver_due()
    for thread in driver.watchers:
        thread.join(5)
    assert len(spool) == 0
    assert domain.calls == ['destroy', 'start', 'start']
    sender.deliver_due()
    assert domain.calls == ['destroy', 'start', 'start']   # not again


def test_an_unrecoverable_entry_leaves_the_spool(tmp_path):
    domain = FakeDomain(persistent=False)
    domain.exists = False
    spool = Spool(tmp_path / 'spool', 10)
    sender = Sender(spool, make(domain), retry_interval=1,
                    retry_interval_max=5, clock=FakeClock(0.0))
    sender.submit(note())
    assert sender.deliver_due() is None
    assert len(spool) == 0


def test_the_drivers_own_destroy_does_not_withdraw_its_entry(tmp_path):
    domain = FakeDomain()
    domain.fail['start'] = 1
    driver = make(domain, 'restart')
    clock = FakeClock(0.0)
    spool = Spool(tmp_path / 'spool', 10)
    sender = Sender(spool, driver, retry_interval=1, retry_interval_max=5,
                    clock=clock)
    destroy = domain.destroy

    def destroy_and_tell():   # the stop event reaches the fleet meanwhile
        destroy()
        sender.withdraw(UUID, 'left the host: domain stopped (destroyed)',
                        WithdrawCause.LEFT_HOST)

    domain.destroy = destroy_and_tell
    sender.submit(note())
    clock.advance(sender.deliver_due())
    assert len(spool) == 1             # kept: the start is retried
    sender.deliver_due()
    for thread in driver.watchers:
        thread.join(5)
    assert domain.power is Power.RUNNING and len(spool) == 0
    sender.submit(note())
    sender.withdraw(UUID, 'the guest answers again')   # not in flight
    assert len(spool) == 0


def test_built_from_the_configuration():
    import types
    pytest.importorskip('libvirt')
    conf = types.SimpleNamespace(
        libvirt=types.SimpleNamespace(connection_uri='test:///default'),
        recovery=types.SimpleNamespace(libvirt_action='restart'))
    driver = LibvirtRecovery.from_conf(conf)
    assert driver._action == 'restart'
    assert driver.name == 'libvirt recovery'


def test_a_failed_destroy_does_not_make_a_later_shut_off_its_own():
    domain = FakeDomain(power=Power.STUCK, reason='ioerror')
    domain.fail['destroy'] = 1
    driver = make(domain, 'reset')
    assert run(driver).delivery is Delivery.TRANSIENT
    # the operator shuts it off before the retry
    domain.power, domain.domain_id, domain.reason = Power.SHUT_OFF, -1, \
        'destroyed'
    assert run(driver).delivery is Delivery.UNRECOVERABLE
    assert domain.calls == ['destroy']


def test_a_start_failing_again_and_again_is_retried_each_time():
    domain = FakeDomain()
    domain.fail['start'] = 3
    driver = make(domain, 'restart')
    results = [run(driver).delivery for _ in range(4)]
    assert results == [Delivery.TRANSIENT] * 3 + [Delivery.DELIVERED]
    assert domain.calls == ['destroy'] + ['start'] * 4


def test_a_guest_destroyed_by_the_operator_after_a_failed_reset_stays_off():
    domain = FakeDomain()
    domain.fail['reset'] = 1
    driver = make(domain, 'reset')
    token = driver.begin(note())
    assert run(driver).delivery is Delivery.TRANSIENT
    domain.destroy()                  # the operator, within the linger time
    domain.calls.clear()
    # the retry of the started entry: asked first, then attempted
    assert driver.settled(note(), token) is None
    assert run(driver).delivery is Delivery.UNRECOVERABLE
    assert domain.calls == [] and domain.power is Power.SHUT_OFF
