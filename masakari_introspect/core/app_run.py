"""The values of an application probe's run: what the core asks for, what
each agent call answered, and what the run gave.

An application probe (:class:`~masakari_introspect.core.policy.AppProbe`)
runs a command in the guest with ``guest-exec`` and polls
``guest-exec-status`` until it exits or its timeout passes. ``virt/`` turns
each agent answer into an :class:`ExecReply`, the runtime turns the run's
replies into one :class:`RunResult`, and the core
(:mod:`masakari_introspect.core.application`) judges it. No libvirt message
crosses this seam; only these values.
"""

import dataclasses
import enum

from masakari_introspect.core.policy import AppProbe

OUTPUT_KEPT = 4096        # bytes of a run's output kept (forensics)
OUTPUT_LOGGED = 200       # characters of it in a log line, escaped
EXEC = 'guest-exec'
EXEC_STATUS = 'guest-exec-status'
NEEDED = (EXEC, EXEC_STATUS)


def escaped(text: str, limit: int = OUTPUT_LOGGED) -> str:
    """Untrusted output for a log line: control characters and non-ASCII
    escaped, cut to ``limit`` characters."""
    cut = text[:limit].encode('unicode_escape').decode('ascii')
    return cut + ('...' if len(text) > limit else '')


class ReplyKind(enum.Enum):
    """What one agent call answered."""

    STARTED = 'started'        # guest-exec: the process runs (pid)
    RUNNING = 'running'        # guest-exec-status: not exited yet
    EXITED = 'exited'          # guest-exec-status: exited (code or signal)
    NO_PROCESS = 'no_process'  # guest-exec-status: the agent knows no pid
    INFO = 'info'              # guest-info (commands) answered
    DISABLED = 'disabled'      # the agent refuses: command disabled
    FROZEN = 'frozen'          # the agent refuses: filesystems frozen
    COMMAND_ERROR = 'command_error'  # the agent's own error (cannot spawn)
    UNAVAILABLE = 'unavailable'      # no answer: agent, domain or libvirt
    MALFORMED = 'malformed'    # an answer that is not what was asked


@dataclasses.dataclass(frozen=True)
class AgentCommands:
    """``guest-info``'s ``supported_commands``: which are enabled, and
    whether the guest's filesystems are frozen (asked only when a command
    the probes need is disabled: a freeze disables them for its length)."""

    enabled: frozenset[str]
    disabled: frozenset[str] = frozenset()
    frozen: bool = False

    def refuses(self) -> str | None:
        """The first command a probe needs that the agent does not allow."""
        return next((c for c in NEEDED if c not in self.enabled), None)


@dataclasses.dataclass(frozen=True)
class ExecReply:
    kind: ReplyKind
    pid: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    output: str = ''           # stdout then stderr, first OUTPUT_KEPT bytes
    truncated: bool = False
    detail: str = ''           # the agent's or libvirt's words, for logs
    commands: AgentCommands | None = None


class RunOutcome(enum.Enum):
    """What one run of a probe gave."""

    PASSED = 'passed'          # exit code 0
    FAILED = 'failed'          # another exit code, a signal, or no spawn
    TIMEOUT = 'timeout'        # still running when the timeout passed
    OVERRAN = 'overran'        # the last run's process still runs: no new
    DISABLED = 'disabled'      # the agent does not allow guest-exec
    FROZEN = 'frozen'          # filesystems frozen: the agent refused
    UNAVAILABLE = 'unavailable'   # the agent or libvirt did not answer

    @property
    def failed(self) -> bool | None:
        """True a failed run, False a pass, None neither."""
        if self is RunOutcome.PASSED:
            return False
        if self in (RunOutcome.FAILED, RunOutcome.TIMEOUT,
                    RunOutcome.OVERRAN):
            return True
        return None


@dataclasses.dataclass(frozen=True)
class AppRun:
    """Run ``probe`` in guest ``uuid`` (an action for the monitor)."""

    uuid: str
    token: int
    probe: AppProbe
    ask_info: bool = False         # ask guest-info first
    lingering: int | None = None   # a process of the last run may still run


@dataclasses.dataclass(frozen=True)
class RunResult:
    uuid: str
    probe: str
    token: int
    outcome: RunOutcome
    exit_code: int | None = None
    output: str = ''
    truncated: bool = False
    detail: str = ''
    duration: float = 0.0
    pid: int | None = None     # a process left running (TIMEOUT, OVERRAN)
    commands: AgentCommands | None = None   # guest-info, if asked

    def describe(self) -> str:
        """One line for a log: outcome, exit code, escaped output."""
        words = [self.outcome.value]
        if self.exit_code is not None:
            words.append('exit code %d' % self.exit_code)
        if self.detail:
            words.append(escaped(self.detail))
        if self.output:
            words.append("output '%s'" % escaped(self.output))
        return ', '.join(words)
