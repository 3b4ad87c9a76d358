"""The real ``masakari-introspect`` process, run with a generated config.

Functional tests, the sandbox and the benchmarks start the installed console
script exactly as an operator would, read its log, signal it and kill it.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from tests.bed.process import write_ini

CONSOLE_SCRIPT = "masakari-introspect"


def console_script() -> list[str]:
    """The installed entry point; next to this Python in a venv or tox env."""
    beside = Path(sys.executable).with_name(CONSOLE_SCRIPT)
    if beside.exists():
        return [str(beside)]
    found = shutil.which(CONSOLE_SCRIPT)
    if found is None:
        raise RuntimeError(f"{CONSOLE_SCRIPT} is not installed: pip install .")
    return [found]


class MonitorProcess:
    """One masakari-introspect service with its config, state and log in rundir."""

    def __init__(self, rundir: Path, *, endpoint: str, host: str,
                 options: Mapping[str, Mapping[str, object]] | None = None,
                 debug: bool = True,
                 env: Mapping[str, str] | None = None) -> None:
        self.rundir = Path(rundir)
        self.env = dict(env or {})   # added to the environment, e.g. LD_PRELOAD
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.rundir / "masakari-introspect.conf"
        self.log_path = self.rundir / "masakari-introspect.log"
        self.state_path = self.rundir / "state"
        self.sections: dict[str, dict[str, object]] = {
            "DEFAULT": {"host": host, "state_path": self.state_path,
                        "debug": debug, "log_file": self.log_path},
            "libvirt": {"connection_uri": "qemu:///system"},
            "introspection": {"probe_interval": 2, "probe_timeout": 1,
                              "failure_threshold": 3, "boot_grace_period": 30},
            "masakari": {"auth_type": "none", "endpoint_override": endpoint,
                         "retry_interval": 1, "retry_interval_max": 5},
        }
        for section, values in (options or {}).items():
            self.sections.setdefault(section, {}).update(values)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def write_conf(self) -> None:
        write_ini(self.conf_path, self.sections)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self, wait_for: str = "Monitoring guest agents",
              timeout: float = 60) -> None:
        self.write_conf()
        self._log_offset = self.log_path.stat().st_size \
            if self.log_path.exists() else 0
        out = open(self.rundir / "stderr.txt", "ab")
        self._proc = subprocess.Popen(
            console_script() + ["--config-file", str(self.conf_path)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                 **self.env})
        out.close()
        if wait_for:
            self.wait_log(wait_for, timeout)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        return self._proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as after a crash or OOM kill."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)

    def log_text(self) -> str:
        return self._log_from(0)

    def _log_from(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        try:
            return (self.rundir / "stderr.txt").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """A position in the log; wait_log(after=mark) looks only past it."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_log(self, pattern: str, timeout: float = 60,
                 after: int | None = None) -> re.Match[str]:
        """Wait for pattern in the log past ``after`` (default: this start)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        offset = self._log_offset if after is None else after
        while True:
            match = regex.search(self._log_from(offset))
            if match:
                return match
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"masakari-introspect exited ({self._proc.returncode}) "
                    f"before logging {pattern!r}:\n{self.output()[-3000:]}"
                    f"\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} in the monitor log after "
                                   f"{timeout} s:\n{self.log_text()[-4000:]}")
            time.sleep(0.2)

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log_text()))

    def __enter__(self) -> MonitorProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.running:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.kill()
