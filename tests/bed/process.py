"""What the bed's long-running children have in common.

masakari-api and upstream's monitor run from their own virtualenvs, each in
its own process group (masakari-api forks a worker), with output appended to
a file, and they die with the test process even if it is SIGKILLed.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: have the kernel SIGTERM the child when the test process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def child_env() -> dict[str, str]:
    """The environment for a program of another virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "ignore"  # eventlet's deprecation banner on every start
    return env


def write_ini(path: Path, sections: Mapping[str, Mapping[str, object]]) -> None:
    """An oslo.config file from {section: {option: value}}."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines))


def read_texts(*paths: Path) -> str:
    """The concatenated text of those files that exist."""
    return "".join(p.read_text(errors="replace") for p in paths if p.exists())


class GroupProcess:
    """A child in its own process group; stop() and kill() take the group."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, argv: Sequence[str], output: Path) -> None:
        with open(output, "ab") as out:
            self.proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=child_env(), start_new_session=True, preexec_fn=die_with_parent)

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass

    def _wait_group_gone(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float) -> None:
        """SIGTERM the group and wait; SIGKILL what is left."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s, killing it", self.name, timeout)
        if not self._wait_group_gone(min(timeout, 5.0)):
            self._signal(signal.SIGKILL)
            self._wait_group_gone(5.0)
        self.proc.wait()
        log.info("%s stopped (exit %s)", self.name, self.proc.returncode)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the group at once."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        self.proc.wait()
        self._wait_group_gone(5.0)
        self.proc = None
