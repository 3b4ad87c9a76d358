"""What libvirt answers to guest-ping, classified (no libvirt needed)."""

import pytest

from masakari_introspect.core.model import Outcome
from masakari_introspect.virt import errors

# virErrorDomain numbers as libvirt spells them (virerror.h)
FROM_NONE = 0
FROM_RPC = 7
FROM_QEMU = 10
FROM_DOMAIN = 20


# One row per line of "What libvirt answers" (doc/ and the test bed notes).
@pytest.mark.parametrize('situation,code,domain,outcome', [
    ('agent not connected (booting, stopped, killed)', 86, FROM_QEMU,
     Outcome.MISS),
    ('agent or guest kernel hung, first and later calls', 86, FROM_QEMU,
     Outcome.MISS),
    ('domain paused', 55, FROM_QEMU, Outcome.NOT_RUNNING),
    ('no agent channel in the XML', 74, FROM_QEMU, Outcome.NOT_CONFIGURED),
    ('domain destroyed during the call', 86, FROM_QEMU, Outcome.MISS),
    ('stale handle after destroy/undefine', 42, FROM_QEMU, Outcome.GONE),
    ('persistent domain shut off', 55, FROM_DOMAIN, Outcome.NOT_RUNNING),
    ('timeout 0 (NOWAIT)', 86, FROM_QEMU, Outcome.MISS),
    ('agent job held by another caller', 68, FROM_NONE, Outcome.BUSY),
    ('call in flight when libvirtd stops', 38, FROM_RPC, Outcome.CONNECTION),
    ('old connection after libvirtd restart', 1, FROM_RPC,
     Outcome.CONNECTION),
])
def test_libvirt_answers_table(situation, code, domain, outcome):
    assert errors.classify(code, domain) is outcome, situation


@pytest.mark.parametrize('code', [1, 38, 42, 55, 68, 74, 86, 97, 9999, None])
def test_rpc_domain_is_the_connection_whatever_the_code(code):
    assert errors.classify(code, FROM_RPC) is Outcome.CONNECTION
    assert errors.is_connection_error(code, FROM_RPC)


@pytest.mark.parametrize('code,domain', [
    (1, FROM_QEMU),        # internal error, not over RPC
    (38, FROM_QEMU),       # system error, not over RPC
    (9999, FROM_QEMU),
    (9999, None),
    (0, FROM_QEMU),
    (None, FROM_QEMU),
    (None, None),
])
def test_unknown_errors_are_errors(code, domain):
    assert errors.classify(code, domain) is Outcome.ERROR
    assert not errors.is_connection_error(code, domain)


@pytest.mark.parametrize('code,outcome', [
    (errors.ERR_AGENT_UNRESPONSIVE, Outcome.MISS),
    (errors.ERR_AGENT_UNSYNCED, Outcome.MISS),
    (errors.ERR_OPERATION_INVALID, Outcome.NOT_RUNNING),
    (errors.ERR_NO_DOMAIN, Outcome.GONE),
    (errors.ERR_INVALID_DOMAIN, Outcome.GONE),
    (errors.ERR_ARGUMENT_UNSUPPORTED, Outcome.NOT_CONFIGURED),
    (errors.ERR_NO_SUPPORT, Outcome.NOT_CONFIGURED),
    (errors.ERR_OPERATION_TIMEOUT, Outcome.BUSY),
    (errors.ERR_NO_CONNECT, Outcome.CONNECTION),
    (errors.ERR_INVALID_CONN, Outcome.CONNECTION),
    (errors.ERR_INTERNAL_ERROR, Outcome.ERROR),
    (errors.ERR_SYSTEM_ERROR, Outcome.ERROR),
])
def test_named_codes(code, outcome):
    assert errors.classify(code, FROM_QEMU) is outcome


def test_connection_errors_by_code_outside_rpc():
    assert errors.is_connection_error(errors.ERR_NO_CONNECT, FROM_NONE)
    assert errors.is_connection_error(errors.ERR_INVALID_CONN, FROM_NONE)
    assert not errors.is_connection_error(errors.ERR_AGENT_UNRESPONSIVE,
                                          FROM_QEMU)


@pytest.mark.parametrize('code,domain,outcome', [
    (55, FROM_QEMU, Outcome.NOT_RUNNING),
    (74, FROM_QEMU, Outcome.NOT_CONFIGURED),
    (42, FROM_QEMU, Outcome.GONE),
    (68, FROM_NONE, Outcome.BUSY),
    (38, FROM_RPC, Outcome.CONNECTION),
    (1, FROM_QEMU, Outcome.ERROR),
])
def test_errors_that_are_not_misses(code, domain, outcome):
    """Only a miss counts against the guest; these errors say another
    thing, each its own."""
    assert errors.classify(code, domain) is outcome


def test_an_error_is_never_an_answer():
    outcomes = {errors.classify(code, domain)
                for code in [None, *range(200)]
                for domain in (None, FROM_NONE, FROM_RPC, FROM_QEMU,
                               FROM_DOMAIN, 13)}
    assert Outcome.OK not in outcomes
    assert Outcome.MISS in outcomes   # the sweep reaches the codes that count


# libvirt's virErrorDomain VIR_FROM_REMOTE is 13 (8 is VIR_FROM_PROXY).
FROM_REMOTE = 13


@pytest.mark.parametrize('code', [38, 86])
def test_remote_driver_domain_is_the_connection(code):
    assert errors.classify(code, FROM_REMOTE) is Outcome.CONNECTION


@pytest.mark.parametrize('code', [
    107,   # VIR_ERR_NO_NETWORK_PORT
    108,   # VIR_ERR_NO_HOSTNAME
])
def test_unrelated_libvirt_errors_are_not_misses(code):
    assert errors.classify(code, FROM_QEMU) is Outcome.ERROR


def test_the_agent_not_connected_is_told_from_a_timeout():
    assert errors.classify(86, FROM_QEMU, 'Guest agent is not responding: '
                           'QEMU guest agent is not connected') \
        is Outcome.DISCONNECTED
    assert errors.classify(86, FROM_QEMU, 'Guest agent is not responding: '
                           'Guest agent not available for now') \
        is Outcome.MISS


@pytest.mark.parametrize('code,message', [
    (113, 'the agent failed'),
    (1, "internal error: unable to execute QEMU agent command 'guest-ping':"
        ' The command guest-ping has been disabled for this instance'),
])
def test_the_agents_own_error_is_an_answer(code, message):
    assert errors.classify(code, FROM_QEMU, message) is Outcome.AGENT_ERROR


def test_another_internal_error_is_an_error():
    assert errors.classify(1, FROM_QEMU, 'internal error: something else') \
        is Outcome.ERROR
