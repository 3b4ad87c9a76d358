"""Run a program (by default libvirtd) in the foreground under a child subreaper.

Usage: python reaper.py [PROGRAM ARGS...]   (default: libvirtd -p /run/libvirtd.pid)

This process marks itself PR_SET_CHILD_SUBREAPER, so processes that libvirtd
daemonizes (QEMU) are re-parented here instead of to PID 1, and reaps every
child as soon as it exits. Without it, libvirt waits for a slow PID 1 to reap
each destroyed QEMU (1.5-2 s per destroy). SIGTERM, SIGINT and SIGHUP are
forwarded to the program. Once the program has exited, this process goes on
reaping adopted QEMUs until none is left, then exits with the program's status.

Standalone on purpose: it is started by file path, imports nothing from the
project.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36
DEFAULT_COMMAND = ["libvirtd", "-p", "/run/libvirtd.pid"]
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
main_exited = False


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(errno)}")


def forward_signals_to(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        if not main_exited:
            os.kill(pid, signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def reap_children(main_pid: int) -> int:
    """Reap all children; return main_pid's exit code once it has exited.

    QEMU processes adopted while libvirtd ran outlive it (a libvirtd restart
    keeps guests running): keep reaping them, so that destroying them stays
    fast, and return when the last one is gone.
    """
    global main_exited
    code = 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return code
        if pid == main_pid:
            main_exited = True
            code = exit_code(status)


def main(argv: list[str]) -> int:
    command = argv or DEFAULT_COMMAND
    become_subreaper()
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd="/")
    forward_signals_to(child.pid)
    return reap_children(child.pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
