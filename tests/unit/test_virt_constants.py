"""The numbers spelled out in virt/ are libvirt's own (binding required).

The binding is a declared dependency; it is imported here only to read its
constants: no connection is opened and no libvirtd is needed.
"""

import libvirt
import pytest

from masakari_introspect.virt import errors, translate


def _libvirt_names(prefix):
    return {name: getattr(libvirt, name) for name in dir(libvirt)
            if name.startswith(prefix)
            and isinstance(getattr(libvirt, name), int)}


ERR_NAMES = sorted(n for n in dir(errors) if n.startswith('ERR_'))
FROM_NAMES = sorted(n for n in dir(errors) if n.startswith('FROM_'))


@pytest.mark.parametrize('name', ERR_NAMES)
def test_error_numbers_match_libvirt(name):
    ours = getattr(errors, name)
    theirs = getattr(libvirt, 'VIR_' + name, None)
    if theirs is not None:
        assert ours == theirs, f'VIR_{name} is {theirs}, not {ours}'
    else:
        # Newer than the C library the binding was built against: at least
        # the number must not be another error's.
        clash = [n for n, v in _libvirt_names('VIR_ERR_').items()
                 if v == ours]
        assert not clash, f'{name} = {ours} is libvirt\'s {clash}'


@pytest.mark.parametrize('name', FROM_NAMES)
def test_error_domain_numbers_match_libvirt(name):
    assert getattr(errors, name) == getattr(libvirt, 'VIR_' + name)


def test_table_codes_match_libvirt():
    assert libvirt.VIR_ERR_AGENT_UNRESPONSIVE == 86
    assert libvirt.VIR_ERR_OPERATION_INVALID == 55
    assert libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED == 74
    assert libvirt.VIR_ERR_NO_DOMAIN == 42
    assert libvirt.VIR_ERR_OPERATION_TIMEOUT == 68
    assert libvirt.VIR_ERR_SYSTEM_ERROR == 38
    assert libvirt.VIR_ERR_INTERNAL_ERROR == 1
    assert libvirt.VIR_FROM_RPC == 7


EVENT_TYPES = ['DEFINED', 'UNDEFINED', 'STARTED', 'SUSPENDED', 'RESUMED',
               'STOPPED', 'SHUTDOWN', 'PMSUSPENDED', 'CRASHED']


@pytest.mark.parametrize('event', EVENT_TYPES)
def test_event_types_match_libvirt(event):
    assert getattr(translate, event) == getattr(libvirt,
                                                'VIR_DOMAIN_EVENT_' + event)


@pytest.mark.parametrize('event', EVENT_TYPES)
def test_event_details_match_libvirt(event):
    number = getattr(libvirt, 'VIR_DOMAIN_EVENT_' + event)
    prefix = f'VIR_DOMAIN_EVENT_{event}_'
    details = {n[len(prefix):].lower(): v
               for n, v in _libvirt_names(prefix).items()
               if not n.endswith('_LAST')}
    assert details
    for name, value in details.items():
        assert translate.detail_name(number, value) == name


def test_lifecycle_with_libvirt_numbers():
    lv = libvirt
    kind = translate.lifecycle
    from masakari_introspect.core.model import EventKind as K
    assert kind(lv.VIR_DOMAIN_EVENT_STARTED,
                lv.VIR_DOMAIN_EVENT_STARTED_BOOTED) is K.STARTED
    assert kind(lv.VIR_DOMAIN_EVENT_STARTED,
                lv.VIR_DOMAIN_EVENT_STARTED_MIGRATED) is K.MIGRATING
    assert kind(lv.VIR_DOMAIN_EVENT_SUSPENDED,
                lv.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED) is K.PAUSED
    assert kind(lv.VIR_DOMAIN_EVENT_SUSPENDED,
                lv.VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED) is K.MIGRATING
    assert kind(lv.VIR_DOMAIN_EVENT_RESUMED,
                lv.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED) is K.RESUMED
    assert kind(lv.VIR_DOMAIN_EVENT_STOPPED,
                lv.VIR_DOMAIN_EVENT_STOPPED_DESTROYED) is K.STOPPED
    assert kind(lv.VIR_DOMAIN_EVENT_UNDEFINED,
                lv.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED) is K.UNDEFINED
    assert kind(lv.VIR_DOMAIN_EVENT_SHUTDOWN,
                lv.VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED) is K.SHUTTING_DOWN
    assert kind(lv.VIR_DOMAIN_EVENT_DEFINED,
                lv.VIR_DOMAIN_EVENT_DEFINED_ADDED) is None


def test_agent_lifecycle_numbers_match_libvirt():
    lv = libvirt
    assert translate.AGENT_CONNECTED == \
        lv.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
    assert translate.AGENT_DISCONNECTED == \
        lv.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED
    assert translate.agent_reason(
        lv.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_UNKNOWN) == \
        'unknown'
    assert translate.agent_reason(
        lv.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_DOMAIN_STARTED) \
        == 'domain started'
    assert translate.agent_reason(
        lv.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL) == \
        'channel'


def test_statistics_groups_and_flags_match_libvirt():
    from masakari_introspect.virt import guest
    assert guest.STATS_BLOCK == libvirt.VIR_DOMAIN_STATS_BLOCK
    assert guest.STATS_INTERFACE == libvirt.VIR_DOMAIN_STATS_INTERFACE
    assert guest.STATS_BALLOON == libvirt.VIR_DOMAIN_STATS_BALLOON
    assert guest.STATS_VCPU == libvirt.VIR_DOMAIN_STATS_VCPU
    assert guest.STATS_ACTIVE == \
        libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
    assert guest.STATS_NOWAIT == \
        libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT


def test_balloon_affect_live_matches_libvirt():
    from masakari_introspect.virt import balloon
    assert balloon.AFFECT_LIVE == libvirt.VIR_DOMAIN_AFFECT_LIVE


def test_paused_reasons_and_watchdog_actions_match_libvirt():
    assert translate.STATE_PAUSED == libvirt.VIR_DOMAIN_PAUSED
    assert translate.STATE_CRASHED == libvirt.VIR_DOMAIN_CRASHED
    assert translate.STATE_SHUTOFF == libvirt.VIR_DOMAIN_SHUTOFF
    assert translate.SHUTOFF_CRASHED == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED
    for word in ('user', 'ioerror', 'watchdog', 'api_error', 'migration',
                 'save', 'snapshot', 'from_snapshot'):
        number = getattr(libvirt, 'VIR_DOMAIN_PAUSED_' + word.upper(), None)
        if number is None:     # newer than the binding: 14 since 8.8
            assert translate.state_reason(translate.STATE_PAUSED,
                                          14).value == word
            continue
        assert translate.state_reason(libvirt.VIR_DOMAIN_PAUSED,
                                      number).value == word
    for word in ('none', 'pause', 'reset', 'poweroff', 'shutdown', 'debug'):
        number = getattr(libvirt,
                         'VIR_DOMAIN_EVENT_WATCHDOG_' + word.upper())
        assert translate.watchdog_action(number) == word


def test_activity_from_a_statistics_record():
    from masakari_introspect.virt import guest
    record = {'block.count': 2, 'block.0.rd.reqs': 4, 'block.0.wr.reqs': 226,
              'block.1.rd.reqs': 10, 'block.1.wr.reqs': 0,
              'net.count': 1, 'net.0.tx.pkts': 37, 'net.0.rx.pkts': 900}
    activity = guest.activity('u', record)
    assert (activity.disk_requests, activity.packets_sent) == (240, 37)
    assert guest.activity('u', {'net.count': 0}).disk_requests == 0


class FakeDomain:
    """state(), controlInfo() and jobInfo() as libvirt gives them."""

    def __init__(self, state=libvirt.VIR_DOMAIN_RUNNING, reason=1,
                 control=libvirt.VIR_DOMAIN_CONTROL_OK,
                 job=libvirt.VIR_DOMAIN_JOB_NONE):
        self._state, self._control, self._job = (state, reason), control, job

    def state(self):
        return list(self._state)

    def controlInfo(self):
        return [self._control, 0, 0]

    def jobInfo(self):
        return [self._job] + [0] * 11


@pytest.mark.parametrize('dom,outcome', [
    (FakeDomain(), 'miss'),
    (FakeDomain(control=libvirt.VIR_DOMAIN_CONTROL_JOB), 'job'),
    # An async job (dump, migration) between two talks with QEMU: the
    # control state is OK, the job information shows it.
    (FakeDomain(job=libvirt.VIR_DOMAIN_JOB_UNBOUNDED), 'job'),
    (FakeDomain(job=libvirt.VIR_DOMAIN_JOB_BOUNDED), 'job'),
    (FakeDomain(state=libvirt.VIR_DOMAIN_PAUSED,
                reason=libvirt.VIR_DOMAIN_PAUSED_IOERROR), 'not_running'),
])
def test_a_failed_ping_is_checked_against_the_domain(dom, outcome):
    from masakari_introspect.core.model import Outcome
    from masakari_introspect.core.model import PauseReason
    from masakari_introspect.virt import guest
    found, pause = guest._recheck(dom, Outcome.MISS)
    assert found.value == outcome
    assert pause is (PauseReason.IOERROR if outcome == 'not_running'
                     else PauseReason.NONE)


def test_not_running_is_checked_for_its_reason():
    from masakari_introspect.core.model import Outcome
    from masakari_introspect.core.model import PauseReason
    from masakari_introspect.virt import guest
    dom = FakeDomain(state=libvirt.VIR_DOMAIN_PAUSED,
                     reason=libvirt.VIR_DOMAIN_PAUSED_IOERROR)
    assert guest._recheck(dom, Outcome.NOT_RUNNING) == (
        Outcome.NOT_RUNNING, PauseReason.IOERROR)
    # Running again by the time it is checked: still not a miss.
    assert guest._recheck(FakeDomain(), Outcome.NOT_RUNNING)[0] \
        is Outcome.NOT_RUNNING


class FakeError:
    """What a libvirtError answers."""

    def __init__(self, code, domain=10, message=''):
        self._code, self._domain, self._message = code, domain, message

    def get_error_code(self):
        return self._code

    def get_error_domain(self):
        return self._domain

    def get_error_message(self):
        return self._message


@pytest.mark.parametrize('dom,outcome', [
    (FakeDomain(job=libvirt.VIR_DOMAIN_JOB_UNBOUNDED), 'job'),
    (FakeDomain(state=libvirt.VIR_DOMAIN_PAUSED,
                reason=libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT), 'not_running'),
    (FakeDomain(), 'busy'),
])
def test_a_busy_agent_is_checked_against_the_domain_too(dom, outcome):
    """Another caller's agent job (a backup tool freezing filesystems)
    while a backup or snapshot job holds the domain: the job's."""
    from masakari_introspect.virt import guest
    busy = FakeError(libvirt.VIR_ERR_OPERATION_TIMEOUT, 10,
                     'Timed out during operation: cannot acquire state '
                     'change lock (held by agent=remoteDispatchDomainFSFreeze)')
    result = guest._failed(None, dom, 'u', busy, 0.0, lambda c, m: None)
    assert result.outcome.value == outcome


def test_metadata_type_element_matches_libvirt():
    assert translate.METADATA_ELEMENT == libvirt.VIR_DOMAIN_METADATA_ELEMENT
