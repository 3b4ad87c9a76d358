"""The libvirt half of the libvirt recovery driver, on libvirt's in-process
test driver, and the translation of libvirt's states."""

import pytest

from masakari_introspect.core.model import DomainActionFailed
from masakari_introspect.core.model import Power
from masakari_introspect.virt.domain_control import power

UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f'
MISSING = '11111111-2222-3333-4444-555555555555'


@pytest.mark.parametrize('state, reason, expected', [
    (1, 1, (Power.RUNNING, '')),            # running, booted
    (2, 0, (Power.RUNNING, '')),            # blocked
    (3, 1, (Power.PAUSED, 'user')),
    (3, 2, (Power.PAUSED, 'migration')),
    (3, 5, (Power.STUCK, 'ioerror')),
    (3, 6, (Power.STUCK, 'watchdog')),
    (3, 10, (Power.STUCK, 'crashed')),      # on_crash=pause, panicked
    (5, 3, (Power.SHUT_OFF, 'crashed')),    # on_crash=destroy
    (5, 1, (Power.SHUT_OFF, 'shutdown')),   # shut down on purpose
    (5, 2, (Power.SHUT_OFF, 'destroyed')),
    (6, 1, (Power.STUCK, 'crashed')),       # crashed (on_crash=preserve)
    (7, 0, (Power.PAUSED, 'pmsuspended')),
])
def test_libvirt_states_in_the_projects_words(state, reason, expected):
    assert power(state, reason) == expected


libvirt = pytest.importorskip('libvirt')

from masakari_introspect.virt.domain_control import LibvirtDomains  # noqa


@pytest.fixture
def domains():
    """libvirt's shared in-process test host; its domain 'test' running.

    (A test:///file.xml host would be a new one on every connection, and
    a session opens one each.)
    """
    uri = 'test:///default'
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(UUID)
        if not dom.isActive():
            dom.create()
        yield LibvirtDomains(uri)
    finally:
        conn.close()


def test_state_reset_destroy_and_start(domains):
    with domains.session(UUID) as domain:
        before = domain.status()
        assert before.power is Power.RUNNING and before.persistent
        domain.reset()
        assert domain.status().domain_id == before.domain_id
        domain.destroy()
        assert domain.status().power is Power.SHUT_OFF
        assert domain.status().domain_id == -1
        domain.start()
        after = domain.status()
    assert after.power is Power.RUNNING
    assert after.domain_id not in (-1, before.domain_id)


def test_a_failed_call_is_raised_as_the_projects_error(domains):
    with domains.session(UUID) as domain:
        with pytest.raises(DomainActionFailed) as caught:
            domain.start()          # already running
    assert not caught.value.gone


def test_a_missing_domain_is_gone(domains):
    with pytest.raises(DomainActionFailed) as caught:
        with domains.session(MISSING):
            pass
    assert caught.value.gone


def test_no_connection_is_not_gone(tmp_path):
    with pytest.raises(DomainActionFailed) as caught:
        with LibvirtDomains(f'test://{tmp_path}/missing.xml').session(UUID):
            pass
    assert not caught.value.gone
