"""Prepare this host to run the guest test bed: packages, qemu.conf, libvirtd.

Everything here is idempotent; ``prepare_host()`` on a prepared host with
libvirtd running takes well under a second.
"""
from __future__ import annotations

import grp
import logging
import os
import platform
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

HOST_PACKAGES = (
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    "libvirt-clients",
    "qemu-system-x86",
    "libvirt-dev",
    "pkg-config",
    "gcc",
)
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
QEMU_CONF_SETTINGS = {"stdio_handler": '"file"', "user": '"root"', "group": '"root"'}
LIBVIRT_URI = "qemu:///system"
LIBVIRTD_PIDFILE = Path("/run/libvirtd.pid")
REAPER = Path(__file__).with_name("reaper.py")
LIBVIRTD_START_TIMEOUT = 60.0
LIBVIRTD_STOP_TIMEOUT = 30.0


def cache_dir() -> Path:
    """Cache directory of the bed (outside the repo): $MASAKARI_BED_CACHE or ~/.cache/..."""
    override = os.environ.get("MASAKARI_BED_CACHE")
    path = Path(override) if override else Path.home() / ".cache" / "masakari-introspect-bed"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, raising with its output on failure."""
    log.debug("running %s", " ".join(cmd))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


# --- requirements -----------------------------------------------------------


def missing_requirements() -> list[str]:
    """What this host lacks to run the bed, as readable strings (empty: all good).

    Packages that ``prepare_host()`` can install are reported only when there
    is no apt-get to install them with; call it after ``prepare_host()`` for
    the full picture.
    """
    missing = []
    if os.geteuid() != 0:
        missing.append(f"root privileges (running as uid {os.geteuid()})")
    if platform.machine() != "x86_64":
        missing.append(f"an x86_64 host (this is {platform.machine()})")
    if shutil.which("apt-get") is None:
        for binary, package in (
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("libvirtd", "libvirt-daemon"),
            ("virsh", "libvirt-clients"),
            ("dpkg-deb", "dpkg"),
        ):
            if shutil.which(binary) is None:
                missing.append(f"{binary} (Debian package {package}; no apt-get to install it)")
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing.append("Python module libvirt (pip install libvirt-python)")
    return missing


# --- packages -----------------------------------------------------------------


def missing_packages(packages: tuple[str, ...] | list[str]) -> list[str]:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
        check=False,
        capture_output=True,
        text=True,
    )
    installed = {
        line.split()[0].split(":")[0]
        for line in proc.stdout.splitlines()
        if line.endswith(" installed")
    }
    return [p for p in packages if p not in installed]


def apt_update() -> None:
    log.info("apt-get update")
    run(["apt-get", "update"])


def install_packages(packages: tuple[str, ...] | list[str]) -> None:
    missing = missing_packages(packages)
    if not missing:
        return
    log.info("installing %s", " ".join(missing))
    apt_update()
    run(["apt-get", "install", "-y", "--no-install-recommends", *missing])


# --- account and qemu.conf ------------------------------------------------------


def ensure_libvirt_qemu_account() -> None:
    """libvirt resolves libvirt-qemu before reading qemu.conf: it must exist."""
    try:
        grp.getgrnam("libvirt-qemu")
    except KeyError:
        log.info("creating group libvirt-qemu")
        run(["groupadd", "--system", "libvirt-qemu"])
    try:
        pwd.getpwnam("libvirt-qemu")
    except KeyError:
        log.info("creating user libvirt-qemu")
        run(["useradd", "--system", "--gid", "libvirt-qemu", "--no-create-home",
             "--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin",
             "libvirt-qemu"])


def with_setting(text: str, key: str, value: str) -> str:
    """text with ``key = value`` set: an active line replaced, else appended."""
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=.*$", re.MULTILINE)
    line = f"{key} = {value}"
    if pattern.search(text):
        return pattern.sub(line, text)
    return text + ("" if text.endswith("\n") or not text else "\n") + line + "\n"


def ensure_qemu_conf() -> bool:
    """Apply QEMU_CONF_SETTINGS; return True if the file changed."""
    text = QEMU_CONF.read_text() if QEMU_CONF.exists() else ""
    new = text
    for key, value in QEMU_CONF_SETTINGS.items():
        new = with_setting(new, key, value)
    if new == text:
        return False
    log.info("updating %s", QEMU_CONF)
    QEMU_CONF.parent.mkdir(parents=True, exist_ok=True)
    QEMU_CONF.write_text(new)
    return True


# --- libvirtd -------------------------------------------------------------------


def libvirtd_answers() -> bool:
    """True if qemu:///system answers (a running, reachable libvirtd)."""
    if not Path("/run/libvirt/libvirt-sock").exists():
        return False
    try:
        proc = subprocess.run(
            ["virsh", "-q", "-c", LIBVIRT_URI, "uri"],
            check=False, capture_output=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def libvirtd_pid() -> int | None:
    """PID of the running libvirtd (from its pidfile), or None."""
    try:
        pid = int(LIBVIRTD_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def process_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def libvirtd_log() -> Path:
    return cache_dir() / "libvirtd.log"


def start_libvirtd() -> None:
    """Start libvirtd (foreground, under reaper.py, detached); wait until it answers."""
    if libvirtd_answers():
        return
    log.info("starting libvirtd (log: %s)", libvirtd_log())
    with open(libvirtd_log(), "ab") as out:
        reaper = subprocess.Popen(
            [sys.executable, str(REAPER), "libvirtd", "-p", str(LIBVIRTD_PIDFILE)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            cwd="/", start_new_session=True,
        )
    wait_for_libvirtd(reaper)


def wait_for_libvirtd(reaper: subprocess.Popen) -> None:
    started = time.monotonic()
    while time.monotonic() - started < LIBVIRTD_START_TIMEOUT:
        if libvirtd_answers():
            log.info("libvirtd answers after %.1f s", time.monotonic() - started)
            return
        if reaper.poll() is not None:
            raise RuntimeError(
                f"libvirtd exited with {reaper.returncode}; log tail:\n{log_tail()}"
            )
        time.sleep(0.2)
    raise TimeoutError(f"libvirtd did not answer within {LIBVIRTD_START_TIMEOUT} s:\n{log_tail()}")


def log_tail(lines: int = 20) -> str:
    try:
        return "\n".join(libvirtd_log().read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_libvirtd() -> None:
    """Stop libvirtd (SIGTERM) and wait until it is gone. Running guests keep running."""
    pid = libvirtd_pid()
    if pid is None:
        return
    log.info("stopping libvirtd (pid %d)", pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + LIBVIRTD_STOP_TIMEOUT
    while process_alive(pid):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"libvirtd (pid {pid}) did not stop within {LIBVIRTD_STOP_TIMEOUT} s")
        time.sleep(0.05)


def restart_libvirtd() -> None:
    """Stop and start libvirtd; guests keep running. Old libvirt connections are dead."""
    stop_libvirtd()
    start_libvirtd()


# --- all together ---------------------------------------------------------------


def prepare_host() -> None:
    """Install what the bed needs and make sure libvirtd is running. Idempotent."""
    if os.geteuid() != 0:
        raise PermissionError("the test bed needs root: " + ", ".join(missing_requirements()))
    install_packages(HOST_PACKAGES)
    ensure_libvirt_qemu_account()
    conf_changed = ensure_qemu_conf()
    if conf_changed and libvirtd_pid() is not None:
        restart_libvirtd()
    else:
        start_libvirtd()
