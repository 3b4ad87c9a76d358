"""Windows guests: their balloon statistics come from a user-mode service,
so their heartbeat is no kernel evidence (issue 19)."""

import json
import types

from masakari_introspect.core.actions import Probe
from masakari_introspect.core.model import EventKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.virt import guest
from tests.unit.fakes import A
from tests.unit.fakes import B
from tests.unit.heartbeat_bed import Bed


class OsBed(Bed):
    """Agents tell their OS when a probe asks."""

    def __init__(self, os_ids, **kw):
        self.os_ids = os_ids
        self.asked = []
        super().__init__(**kw)

    def answer(self, actions):
        for probe in [a for a in actions if isinstance(a, Probe)]:
            outcome = Outcome.DISCONNECTED if probe.uuid in self.closed \
                else Outcome.MISS if probe.uuid in self.silent \
                else Outcome.OK
            os_id = None
            if probe.osinfo:
                self.asked.append(probe.uuid)
                if outcome is Outcome.OK:
                    os_id = self.os_ids.get(probe.uuid, '')
            self.do(self.fleet.result(
                ProbeResult(probe.uuid, outcome, os_id=os_id), probe.token))


def test_the_os_is_asked_once_per_agent_connection():
    bed = OsBed({A: 'linux', B: 'mswindows'})
    assert bed.asked.count(A) == 1 and bed.asked.count(B) == 1
    for _ in range(5):
        bed.tick()
    assert bed.asked.count(A) == 1
    bed.event(A, EventKind.AGENT_CONNECTED)   # a new connection
    bed.tick()
    assert bed.asked.count(A) == 2


def test_an_agent_that_cannot_tell_is_not_asked_again():
    bed = OsBed({})                  # old agents: no OS id
    for _ in range(5):
        bed.tick()
    assert bed.asked.count(A) == 1


def test_a_windows_guest_whose_statistics_stop_is_not_kernel_hung():
    # The balloon service stops and the agent hangs: not a dead kernel;
    # judged by its agent after the window (unresponsive).
    bed = OsBed({A: 'mswindows'})
    assert bed.fleet.watched[A].heartbeat.age() is None   # not in use
    bed.kill_kernel()
    for _ in range(6):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']


def test_a_linux_guest_is_kernel_hung_as_before():
    bed = OsBed({A: 'linux'})
    bed.kill_kernel()
    for _ in range(3):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['kernel_hung']


def test_a_windows_agent_that_closes_its_port_is_not_a_lost_agent():
    bed = OsBed({A: 'mswindows'})
    bed.closed.add(A)
    bed.event(A, EventKind.AGENT_DISCONNECTED, 'channel')
    assert bed.state().phase is not Phase.AGENT_LOST
    for _ in range(6):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['disconnected']


# -- the libvirt edge ----------------------------------------------------------


class FakeConn:
    def lookupByUUIDString(self, uuid):
        return object()


def _agent(monkeypatch, replies):
    calls = []

    def command(dom, cmd, timeout, flags):
        calls.append(json.loads(cmd)['execute'])
        reply = replies[calls[-1]]
        if isinstance(reply, Exception):
            raise reply
        return reply

    monkeypatch.setattr(guest, 'libvirt_qemu',
                        types.SimpleNamespace(qemuAgentCommand=command))
    monkeypatch.setattr(guest, 'libvirt', types.SimpleNamespace(
        libvirtError=type('libvirtError', (Exception,), {})))
    return calls


def test_ping_asks_the_os_only_when_told(monkeypatch):
    calls = _agent(monkeypatch, {
        'guest-ping': '{"return": {}}',
        'guest-get-osinfo': '{"return": {"id": "mswindows"}}'})
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None)
    assert result.outcome is Outcome.OK and result.os_id is None
    assert calls == ['guest-ping']
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.os_id == 'mswindows'
    assert calls == ['guest-ping', 'guest-ping', 'guest-get-osinfo']


def test_an_agent_without_osinfo_tells_nothing(monkeypatch):
    _agent(monkeypatch, {
        'guest-ping': '{"return": {}}',
        'guest-get-osinfo': '{"error": {"class": "CommandNotFound"}}'})
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.outcome is Outcome.OK and result.os_id == ''
    _agent(monkeypatch, {'guest-ping': '{"return": {}}',
                         'guest-get-osinfo': RuntimeError('timeout')})
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.outcome is Outcome.OK and result.os_id == ''


def test_a_windows_agent_reconnecting_keeps_its_guest_windows_until_told():
    # The agent service restarts (a new connection) and hangs before it
    # tells its OS again, and the balloon service stops: the guest is
    # still Windows, judged by its agent, not kernel_hung.
    bed = OsBed({A: 'mswindows'})
    bed.silent.add(A)
    bed.event(A, EventKind.AGENT_CONNECTED)
    bed.stamps[A] = int(bed.wall())
    for _ in range(6):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']
    assert A in bed.asked[1:]                  # asked again


def test_a_windows_guest_reinstalled_with_linux_uses_its_heartbeat():
    bed = OsBed({A: 'mswindows'})
    bed.os_ids[A] = 'linux'
    bed.event(A, EventKind.REBOOTED)
    for _ in range(3):
        bed.tick()
    bed.kill_kernel()
    for _ in range(3):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['kernel_hung']


def test_an_agent_that_cannot_tell_leaves_a_known_windows_guest_windows():
    bed = OsBed({A: 'mswindows'})
    bed.os_ids[A] = ''               # e.g. a downgraded agent
    bed.event(A, EventKind.AGENT_CONNECTED)
    bed.tick()
    bed.kill_kernel()
    for _ in range(6):
        bed.tick()
    assert [r.reason for r in bed.reports()] == ['unresponsive']


def test_an_osinfo_call_without_an_answer_is_asked_again(monkeypatch):
    # The agent answered the ping, but its osinfo call timed out (or the
    # connection failed): that is no "cannot tell"; the next probe asks
    # again. An agent that answers with an error cannot tell.
    import libvirt

    from masakari_introspect.virt import errors

    class Error(libvirt.libvirtError):
        def __init__(self, code, message):
            Exception.__init__(self, message)
            self.fields = (code, message)

        def get_error_code(self):
            return self.fields[0]

        def get_error_domain(self):
            return 10

        def get_error_message(self):
            return self.fields[1]

    def replies(osinfo):
        def command(dom, cmd, timeout, flags):
            if json.loads(cmd)['execute'] == 'guest-ping':
                return '{"return": {}}'
            raise osinfo
        monkeypatch.setattr(guest, 'libvirt_qemu',
                            types.SimpleNamespace(qemuAgentCommand=command))

    replies(Error(errors.ERR_AGENT_UNRESPONSIVE, 'Guest agent is not '
                  'responding: QEMU guest agent is not connected'))
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.outcome is Outcome.OK and result.os_id is None
    replies(Error(errors.ERR_AGENT_COMMAND_TIMEOUT, 'timed out'))
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.os_id is None
    replies(Error(errors.ERR_INTERNAL_ERROR, "unable to execute QEMU agent "
                  "command 'guest-get-osinfo': The command guest-get-osinfo"
                  " has not been found"))
    result = guest.ping(FakeConn(), A, 1, lambda c, w: None, osinfo=True)
    assert result.os_id == ''



def test_the_os_is_asked_when_the_instance_policy_uses_the_heartbeat():
    # The configuration turns the heartbeat off, a per-instance policy on:
    # that instance's agent is asked its OS (a Windows guest's stamp is no
    # kernel evidence), the others' are not.
    import dataclasses

    from masakari_introspect.core import assign
    bed = OsBed({A: 'mswindows', B: 'linux'}, kernel_heartbeat=False)
    assert bed.asked == []
    watched = bed.fleet.watched[A]
    assign.assign(watched, dataclasses.replace(
        watched.state.policy, kernel_heartbeat=True), bed.clock())
    bed.tick()
    assert bed.asked == [A]
    assert watched.heartbeat.os_id == 'mswindows'
