"""Application probes' agent calls: guest-exec, guest-exec-status,
guest-info and guest-fsfreeze-status, each turned into an
:class:`~masakari_introspect.core.app_run.ExecReply`.

One function per agent call; each makes exactly one call (guest-info adds
guest-fsfreeze-status when a command the probes need is disabled) and never
raises. The translation of replies and errors is pure (``read_*`` and
:func:`refusal`) and tested without libvirt. What qemu-ga answers:

* ``guest-exec`` -> ``{"pid": N}``; with ``capture-output`` the output is
  kept by the agent until ``guest-exec-status`` reports the exit;
* ``guest-exec-status`` -> ``{"exited": false}`` or ``{"exited": true,
  "exitcode": N | "signal": N, "out-data": base64, "err-data": base64,
  "out-truncated": bool, "err-truncated": bool}``; an unknown pid is the
  error "Invalid parameter 'pid'";
* a disabled command (``--block-rpcs``, or not in ``--allow-rpcs``): the
  error "Command guest-exec has been disabled"; while the filesystems are
  frozen the same, ending "...: the agent is in frozen state";
* ``guest-info`` -> ``{"supported_commands": [{"name": ..., "enabled":
  bool}, ...]}``; ``guest-fsfreeze-status`` -> ``"thawed"`` or
  ``"frozen"``.

libvirt passes the agent's error on as code 113 (or, before, an internal
error "unable to execute QEMU agent command '...': <the agent's words>").
"""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None
    libvirt_qemu = None

from masakari_introspect.core.app_run import AgentCommands
from masakari_introspect.core.app_run import EXEC
from masakari_introspect.core.app_run import EXEC_STATUS
from masakari_introspect.core.app_run import ExecReply
from masakari_introspect.core.app_run import OUTPUT_KEPT
from masakari_introspect.core.app_run import ReplyKind
from masakari_introspect.core.model import Outcome
from masakari_introspect.virt import errors

Lose = Callable[['libvirt.virConnect', str], None]
# Sends one agent command (JSON) and returns the reply; raises libvirtError.
Send = Callable[[str], str]

_DISABLED = 'has been disabled'
_FROZEN = 'frozen'
_NOT_FOUND = ('not been found', 'CommandNotFound')
_NO_PID = "'pid'"


def refusal(code: int | None, domain: int | None, message: str
            ) -> ExecReply:
    """What a failed agent call means (libvirt's error)."""
    outcome = errors.classify(code, domain, message)
    detail = '%s (code %s, domain %s)' % (message, code, domain)
    if outcome is not Outcome.AGENT_ERROR:
        return ExecReply(ReplyKind.UNAVAILABLE, detail=detail)
    return agent_error(message)


def agent_error(message: str) -> ExecReply:
    """The agent's own error (its words inside libvirt's message, or the
    ``desc`` of an error object)."""
    if _DISABLED in message or any(n in message for n in _NOT_FOUND):
        return ExecReply(ReplyKind.FROZEN if _FROZEN in message
                         else ReplyKind.DISABLED, detail=message)
    if _NO_PID in message:
        return ExecReply(ReplyKind.NO_PROCESS, detail=message)
    return ExecReply(ReplyKind.COMMAND_ERROR, detail=message)


def _answer(reply: str) -> tuple[Any, ExecReply | None]:
    """The ``return`` of a reply, or what else the reply is."""
    try:
        doc = json.loads(reply)
    except (TypeError, ValueError):
        doc = None
    if isinstance(doc, dict) and 'return' in doc:
        return doc['return'], None
    if isinstance(doc, dict) and isinstance(doc.get('error'), dict):
        return None, agent_error(str(doc['error'].get('desc', '')))
    return None, _malformed(reply)


def _malformed(reply: object) -> ExecReply:
    return ExecReply(ReplyKind.MALFORMED, detail='unexpected reply %.100r'
                     % (reply,))


def read_exec(reply: str) -> ExecReply:
    answer, other = _answer(reply)
    if other is not None:
        return other
    pid = answer.get('pid') if isinstance(answer, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool):
        return _malformed(reply)
    return ExecReply(ReplyKind.STARTED, pid=pid)


def _decode(data: Any) -> bytes:
    if not isinstance(data, str):
        return b''
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return b'(output not in base64)'


def read_status(reply: str) -> ExecReply:
    answer, other = _answer(reply)
    if other is not None:
        return other
    if not isinstance(answer, dict) or not isinstance(
            answer.get('exited'), bool):
        return _malformed(reply)
    if not answer['exited']:
        return ExecReply(ReplyKind.RUNNING)
    code, signal = answer.get('exitcode'), answer.get('signal')
    code = code if isinstance(code, int) else None
    signal = signal if isinstance(signal, int) else None
    if code is None and signal is None:
        return _malformed(reply)
    raw = _decode(answer.get('out-data')) + _decode(answer.get('err-data'))
    truncated = len(raw) > OUTPUT_KEPT or bool(
        answer.get('out-truncated')) or bool(answer.get('err-truncated'))
    return ExecReply(ReplyKind.EXITED, exit_code=code, signal=signal,
                     output=raw[:OUTPUT_KEPT].decode('utf-8', 'replace'),
                     truncated=truncated,
                     detail='killed by signal %d' % signal
                     if signal is not None else '')


def read_info(reply: str) -> ExecReply:
    answer, other = _answer(reply)
    if other is not None:
        return other
    listed = answer.get('supported_commands') \
        if isinstance(answer, dict) else None
    if not isinstance(listed, list):
        return _malformed(reply)
    enabled: set[str] = set()
    disabled: set[str] = set()
    for command in listed:
        if isinstance(command, dict) and isinstance(command.get('name'), str):
            (enabled if command.get('enabled', True) is True
             else disabled).add(command['name'])
    return ExecReply(ReplyKind.INFO, commands=AgentCommands(
        frozenset(enabled), frozenset(disabled)))


def read_frozen(reply: str) -> bool | None:
    """guest-fsfreeze-status: True frozen, False thawed, None unknown."""
    answer, _other = _answer(reply)
    return answer == 'frozen' if isinstance(answer, str) else None


# -- the calls ---------------------------------------------------------------


def _call(send: Send, command: dict[str, Any],
          read: Callable[[str], ExecReply]) -> ExecReply:
    try:
        return read(send(json.dumps(command)))
    except libvirt.libvirtError as exc:
        return refusal(exc.get_error_code(), exc.get_error_domain(),
                       exc.get_error_message() or '')
    except Exception as exc:
        return ExecReply(ReplyKind.UNAVAILABLE, detail=repr(exc))


def start(send: Send, argv: tuple[str, ...]) -> ExecReply:
    return _call(send, {'execute': EXEC, 'arguments': {
        'path': argv[0], 'arg': list(argv[1:]), 'capture-output': True}},
        read_exec)


def status(send: Send, pid: int) -> ExecReply:
    return _call(send, {'execute': EXEC_STATUS, 'arguments': {'pid': pid}},
                 read_status)


def info(send: Send) -> ExecReply:
    """guest-info; with a needed command disabled, guest-fsfreeze-status
    too (a freeze disables them for its length)."""
    reply = _call(send, {'execute': 'guest-info'}, read_info)
    commands = reply.commands
    if commands is None or commands.refuses() is None:
        return reply
    frozen = _call(send, {'execute': 'guest-fsfreeze-status'},
                   lambda text: ExecReply(ReplyKind.INFO, detail=text))
    if frozen.kind is ReplyKind.INFO and read_frozen(frozen.detail):
        return ExecReply(ReplyKind.INFO, commands=AgentCommands(
            commands.enabled, commands.disabled, frozen=True))
    return reply


def sender(conn: 'libvirt.virConnect | None', uuid: str, timeout: int,
           lose: Lose) -> Send:
    """Sends agent commands to domain ``uuid`` on ``conn`` (a connection
    error makes ``lose`` drop it)."""
    def send(command: str) -> str:
        if conn is None:
            raise RuntimeError('not connected to libvirt')
        try:
            dom = conn.lookupByUUIDString(uuid)
            return str(libvirt_qemu.qemuAgentCommand(dom, command, timeout,
                                                     0))
        except libvirt.libvirtError as exc:
            if errors.classify(exc.get_error_code(), exc.get_error_domain()
                               ) is Outcome.CONNECTION:
                lose(conn, exc.get_error_message() or '')
            raise
    return send
