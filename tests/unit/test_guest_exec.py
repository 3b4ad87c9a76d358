"""guest-exec and friends: qemu-ga's replies and libvirt's errors turned
into ExecReply values (no libvirtd)."""

import base64
import json

import pytest

from masakari_introspect.core.app_run import OUTPUT_KEPT
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.virt import guest_exec

libvirt = pytest.importorskip('libvirt')


def b64(data):
    return base64.b64encode(data).decode()


def ret(value):
    return json.dumps({'return': value})


def test_exec_gives_the_pid():
    reply = guest_exec.read_exec(ret({'pid': 1234}))
    assert (reply.kind, reply.pid) == (ReplyKind.STARTED, 1234)


@pytest.mark.parametrize('text', [
    'not json', ret({}), ret({'pid': 'x'}), ret({'pid': True}), ret([1]),
    json.dumps({'nothing': 1}), ''])
def test_malformed_exec_replies(text):
    assert guest_exec.read_exec(text).kind is ReplyKind.MALFORMED


def test_status_running_then_exited_with_both_outputs():
    assert guest_exec.read_status(ret({'exited': False})).kind \
        is ReplyKind.RUNNING
    reply = guest_exec.read_status(ret({
        'exited': True, 'exitcode': 2, 'out-data': b64(b'up\n'),
        'err-data': b64('caf\u00e9 \x1b[31m'.encode())}))
    assert reply.kind is ReplyKind.EXITED
    assert reply.exit_code == 2
    assert reply.output == 'up\ncaf\u00e9 \x1b[31m'
    assert not reply.truncated


def test_status_output_is_cut_to_4_kib_and_says_so():
    reply = guest_exec.read_status(ret({
        'exited': True, 'exitcode': 0, 'out-data': b64(b'a' * 5000)}))
    assert len(reply.output) == OUTPUT_KEPT and reply.truncated
    reply = guest_exec.read_status(ret({
        'exited': True, 'exitcode': 0, 'out-data': b64(b'a'),
        'out-truncated': True}))
    assert reply.truncated


def test_killed_by_a_signal_and_bad_base64():
    reply = guest_exec.read_status(ret({'exited': True, 'signal': 9,
                                        'out-data': '%%%'}))
    assert reply.kind is ReplyKind.EXITED
    assert reply.exit_code is None and reply.signal == 9
    assert 'signal 9' in reply.detail
    assert reply.output == '(output not in base64)'


@pytest.mark.parametrize('text', [
    ret({'exited': True}), ret({'exited': 'yes'}), ret({}), '{"return"',
    ret(None)])
def test_malformed_status_replies(text):
    assert guest_exec.read_status(text).kind is ReplyKind.MALFORMED


def test_an_error_object_in_the_reply_is_the_agents_word():
    text = json.dumps({'error': {'class': 'GenericError',
                                 'desc': 'Command guest-exec has been '
                                 'disabled'}})
    assert guest_exec.read_exec(text).kind is ReplyKind.DISABLED


# libvirt's messages, as libvirt 9.0 gives them for qemu-ga 7.2.
AGENT = "internal error: unable to execute QEMU agent command '%s': %s"


@pytest.mark.parametrize('code,domain,message,kind', [
    (113, 10, "unable to execute QEMU agent command 'guest-exec': Command "
     "guest-exec has been disabled", ReplyKind.DISABLED),
    (1, 10, AGENT % ('guest-exec', 'Command guest-exec has been disabled'),
     ReplyKind.DISABLED),
    (1, 10, AGENT % ('guest-exec', 'Command guest-exec has been disabled: '
                     'the agent is in frozen state'), ReplyKind.FROZEN),
    (1, 10, AGENT % ('guest-exec-status', "Invalid parameter 'pid'"),
     ReplyKind.NO_PROCESS),
    (1, 10, AGENT % ('guest-exec', 'Failed to execute child process '
                     '\u201c/nope\u201d (No such file or directory)'),
     ReplyKind.COMMAND_ERROR),
    (1, 10, AGENT % ('guest-exec', 'The command guest-exec has not been '
                     'found'), ReplyKind.DISABLED),
    (86, 10, 'Guest agent is not responding: QEMU guest agent is not '
     'connected', ReplyKind.UNAVAILABLE),
    (55, 10, 'Requested operation is not valid: domain is not running',
     ReplyKind.UNAVAILABLE),
    (38, 7, 'Connection reset by peer', ReplyKind.UNAVAILABLE),
    (None, None, '', ReplyKind.UNAVAILABLE),
])
def test_libvirt_errors(code, domain, message, kind):
    assert guest_exec.refusal(code, domain, message).kind is kind


class FakeError(libvirt.libvirtError):
    def __init__(self, code, domain, message):
        Exception.__init__(self, message)
        self._fields = (code, domain, message)

    def get_error_code(self):
        return self._fields[0]

    def get_error_domain(self):
        return self._fields[1]

    def get_error_message(self):
        return self._fields[2]


class FakeAgent:
    """Answers agent commands from a table (the reply, or an error)."""

    def __init__(self, answers):
        self.answers = answers
        self.sent = []

    def __call__(self, command):
        doc = json.loads(command)
        self.sent.append(doc)
        answer = self.answers[doc['execute']]
        if isinstance(answer, Exception):
            raise answer
        return answer


def info(disabled=()):
    names = ('guest-ping', 'guest-info', 'guest-exec', 'guest-exec-status',
             'guest-fsfreeze-status')
    return ret({'version': '7.2.22', 'supported_commands': [
        {'name': n, 'enabled': n not in disabled, 'success-response': True}
        for n in names]})


def test_start_sends_argv_with_captured_output():
    agent = FakeAgent({'guest-exec': ret({'pid': 7})})
    reply = guest_exec.start(agent, ('/bin/sh', '-c', 'test -e /run/app'))
    assert reply.pid == 7
    assert agent.sent == [{'execute': 'guest-exec', 'arguments': {
        'path': '/bin/sh', 'arg': ['-c', 'test -e /run/app'],
        'capture-output': True}}]


def test_a_refused_call_is_typed():
    agent = FakeAgent({'guest-exec-status': FakeError(
        1, 10, AGENT % ('guest-exec-status', 'Command guest-exec-status has '
                        'been disabled: the agent is in frozen state'))})
    assert guest_exec.status(agent, 3).kind is ReplyKind.FROZEN


def test_info_keeps_the_enabled_commands():
    reply = guest_exec.info(FakeAgent({'guest-info': info()}))
    assert reply.kind is ReplyKind.INFO
    assert reply.commands.refuses() is None


def test_info_with_exec_disabled_asks_whether_frozen():
    agent = FakeAgent({'guest-info': info(disabled=('guest-exec',)),
                       'guest-fsfreeze-status': ret('thawed')})
    reply = guest_exec.info(agent)
    assert reply.commands.refuses() == 'guest-exec'
    assert not reply.commands.frozen
    assert [c['execute'] for c in agent.sent] == ['guest-info',
                                                   'guest-fsfreeze-status']
    agent.answers['guest-fsfreeze-status'] = ret('frozen')
    assert guest_exec.info(agent).commands.frozen


def test_info_without_an_answer_is_unavailable():
    agent = FakeAgent({'guest-info': FakeError(86, 10, 'Guest agent not '
                                               'available for now')})
    reply = guest_exec.info(agent)
    assert reply.kind is ReplyKind.UNAVAILABLE and reply.commands is None


def test_a_connection_error_drops_the_connection():
    lost = []

    class Conn:
        def lookupByUUIDString(self, uuid):
            raise FakeError(38, 7, 'Connection reset by peer')

    conn = Conn()
    send = guest_exec.sender(conn, 'u', 2, lambda c, why: lost.append(c))
    assert guest_exec.start(send, ('/bin/true',)).kind \
        is ReplyKind.UNAVAILABLE
    assert lost == [conn]
    unconnected = guest_exec.sender(None, 'u', 2, lambda c, why: None)
    assert guest_exec.status(unconnected, 1).kind is ReplyKind.UNAVAILABLE
