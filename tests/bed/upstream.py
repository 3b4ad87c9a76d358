"""Upstream masakari-monitors' introspective instance monitor, for side-by-side benchmarks.

``masakari-monitors==22.0.0`` runs from its own virtualenv (cached next to the
masakari one), with ``libvirt-python`` compiled against the host's libvirt
(needs the apt packages libvirt-dev and pkg-config, and gcc + python3-dev).

What upstream needs from a guest to monitor it
----------------------------------------------
Every ``guest_monitoring_interval`` seconds it opens a new connection to
``[libvirt] connection_uri``, lists the *running* domains and, for each, looks
at the **first** ``<devices><channel>`` element that has a ``<source>``
child. The guest is monitored only when that source has ``mode='bind'`` and a
``path`` matching ``qemu_guest_agent_sock_path`` with ``re.match`` (anchored at
the start only). The default regex is
``/var/lib/libvirt/qemu/org\\.qemu\\.guest_agent\\..*\\.instance-.*\\.sock``, which
fits what Nova writes, e.g.::

    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/org.qemu.guest_agent.0.instance-00000001.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>

The domain *name* does not matter; only the socket path does (and the agent
channel must be the first channel with a source). Domains whose channel uses
libvirt's auto-generated path (``/var/lib/libvirt/qemu/channel/target/
domain-N-NAME/org.qemu.guest_agent.0``) are ignored unless ``sock_path_regex``
is given, e.g. ``r"/var/lib/libvirt/qemu/channel/target/.*/org\\.qemu\\.guest_agent\\.0"``.

What it sends
-------------
``{"type": "VM", "hostname": socket.gethostname(), "generated_time": utcnow,
"payload": {"event": "QEMU_GUEST_AGENT_ERROR", "instance_uuid": <domain UUID>,
"vir_domain_event": "STOPPED_FAILED"}}`` -- the hostname is **not**
configurable (``[DEFAULT] hostname`` is not used by this monitor), so the bed
must register ``UpstreamMonitor.hostname`` (``socket.gethostname()``) in
Masakari. It notifies on the (threshold + 2)-th consecutive failed ping.

How it reaches our loopback API
-------------------------------
``masakarimonitors.ha.masakari`` loads a keystoneauth plugin and session from
the ``[api]`` group and builds an openstacksdk ``Connection(session=...,
interface=[api] api_interface, region_name=[api] region)``; with::

    [api]
    auth_type = none
    endpoint = http://127.0.0.1:PORT/v1

openstacksdk takes the endpoint from the ``none`` (NoAuth) plugin as is and
POSTs to ``<endpoint>/notifications`` with ``X-Auth-Token: notused`` and no
microversion header; region, interface and api_version need no change.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from .host import cache_dir, install_packages
from .process import GroupProcess, child_env, read_texts, write_ini
from .venv import build_venv

log = logging.getLogger(__name__)

UPSTREAM_REQUIREMENTS: tuple[str, ...] = ("masakari-monitors==22.0.0", "libvirt-python==12.8.0")
BUILD_PACKAGES: tuple[str, ...] = ("libvirt-dev", "pkg-config", "gcc", "python3-dev")
STOP_TIMEOUT = 15.0
START_TIMEOUT = 30.0
START_SETTLE = 1.5  # upstream dies about 1 s after its start line when libvirtd is unreachable
STARTED_LINE = "Starting masakarimonitors-introspectiveinstancemonitor"
CONSOLE_SCRIPT = "masakari-introspectiveinstancemonitor"


# --- installation ------------------------------------------------------------


def ensure_upstream_venv() -> Path:
    """The virtualenv holding masakari-monitors 22.0.0 and libvirt-python (built once)."""
    venv = cache_dir() / "upstream-venv"
    if not (venv / ".bed-installed").exists():
        install_packages(BUILD_PACKAGES)
    return build_venv(venv, UPSTREAM_REQUIREMENTS)


# --- the monitor ---------------------------------------------------------------


class UpstreamMonitor:
    """``masakari-introspectiveinstancemonitor`` with its config and log in rundir."""

    def __init__(
        self,
        rundir: Path,
        endpoint: str,
        *,
        interval: int = 10,
        timeout: int = 2,
        failure_threshold: int = 3,
        connection_uri: str = "qemu:///system",
        retry_max: int = 12,
        retry_interval: int = 10,
        sock_path_regex: str | None = None,
        debug: bool = True,
        extra_conf: Mapping[str, Mapping[str, str]] | None = None,
        venv: Path | None = None,
    ) -> None:
        """
        :param rundir: directory for masakarimonitors.conf and the log
        :param endpoint: Masakari endpoint, e.g. ``MasakariAPI.endpoint``
        :param interval: ``guest_monitoring_interval`` (s)
        :param timeout: ``guest_monitoring_timeout`` (s)
        :param failure_threshold: ``guest_monitoring_failure_threshold``
        :param sock_path_regex: ``qemu_guest_agent_sock_path``, else upstream's default
        :param extra_conf: more options, ``{section: {option: value}}``
        :param venv: upstream virtualenv, else ``ensure_upstream_venv()`` at start()
        """
        self.rundir = Path(rundir)
        self.endpoint = endpoint
        self.interval = interval
        self.timeout = timeout
        self.failure_threshold = failure_threshold
        self.connection_uri = connection_uri
        self.retry_max = retry_max
        self.retry_interval = retry_interval
        self.sock_path_regex = sock_path_regex
        self.debug = debug
        self._extra_conf = {section: dict(opts) for section, opts in (extra_conf or {}).items()}
        self._venv = venv
        self._server = GroupProcess("upstream monitor")

    @property
    def hostname(self) -> str:
        """The host name upstream puts in its notifications (not configurable upstream)."""
        return socket.gethostname()

    @property
    def conf_path(self) -> Path:
        return self.rundir / "masakarimonitors.conf"

    @property
    def log_path(self) -> Path:
        return self.rundir / "introspectiveinstancemonitor.log"

    @property
    def running(self) -> bool:
        return self._server.running

    def log_text(self) -> str:
        """The monitor's log file plus its captured stdout/stderr."""
        return read_texts(self.log_path, self.rundir / "introspectiveinstancemonitor.out")

    def write_conf(self) -> None:
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {
                "log_file": str(self.log_path),
                "debug": "true" if self.debug else "false",
            },
            "libvirt": {"connection_uri": self.connection_uri},
            "introspectiveinstancemonitor": {
                "guest_monitoring_interval": str(self.interval),
                "guest_monitoring_timeout": str(self.timeout),
                "guest_monitoring_failure_threshold": str(self.failure_threshold),
            },
            "callback": {
                "retry_max": str(self.retry_max),
                "retry_interval": str(self.retry_interval),
            },
            "api": {"auth_type": "none", "endpoint": self.endpoint},
        }
        if self.sock_path_regex is not None:
            # oslo.config interpolates $name: double any dollar of the regex.
            sections["introspectiveinstancemonitor"]["qemu_guest_agent_sock_path"] = (
                self.sock_path_regex.replace("$", "$$")
            )
        for section, opts in self._extra_conf.items():
            sections.setdefault(section, {}).update(opts)
        write_ini(self.conf_path, sections)

    def start(self, wait: bool = True) -> None:
        """Write the config, launch the monitor and (if wait) check that it came up."""
        if self.running:
            return
        venv = self._venv or ensure_upstream_venv()
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.write_conf()
        self._server.start(
            [str(venv / "bin" / CONSOLE_SCRIPT), "--config-file", str(self.conf_path)],
            self.rundir / "introspectiveinstancemonitor.out")
        log.info("upstream introspective monitor started, reporting as %s to %s",
                 self.hostname, self.endpoint)
        if wait:
            self.wait_started()

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for upstream's start line, then make sure it survives its libvirt connect.

        Upstream exits (with status 0) when it cannot open ``connection_uri``;
        that is reported here as RuntimeError with the log.
        """
        proc = self._server.proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while STARTED_LINE not in self.log_text():
            if proc.poll() is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"upstream monitor did not start in {timeout} s:\n"
                                   f"{self.log_text()[-4000:]}")
            time.sleep(0.1)
        try:
            proc.wait(START_SETTLE)
        except subprocess.TimeoutExpired:
            return
        raise RuntimeError(f"upstream monitor exited with {proc.returncode}:\n"
                           f"{self.log_text()[-4000:]}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the monitor, wait; SIGKILL if it does not exit in time."""
        self._server.stop(timeout)

    def kill(self) -> None:
        self._server.kill()

    def __enter__(self) -> UpstreamMonitor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def send_notification(self, instance_uuid: str, hostname: str | None = None) -> str:
        """Send one notification through upstream's own notifier code, with this config.

        Runs ``masakarimonitors.ha.masakari.SendNotification().send_notification``
        in the upstream venv, exactly as the monitor would (same [api] and
        [callback] options); returns that process's output (upstream logs, at
        INFO, the response or the 400/409 it swallowed).
        """
        venv = self._venv or ensure_upstream_venv()
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.write_conf()
        snippet = textwrap.dedent(
            """
            import logging, sys
            from oslo_utils import timeutils
            import masakarimonitors.conf
            from masakarimonitors.ha import masakari
            logging.basicConfig(level=logging.INFO, stream=sys.stdout)
            CONF = masakarimonitors.conf.CONF
            CONF(["--config-file", sys.argv[1]], project="masakarimonitors")
            event = {"notification": {
                "type": "VM", "hostname": sys.argv[2],
                "generated_time": timeutils.utcnow(),
                "payload": {"event": "QEMU_GUEST_AGENT_ERROR",
                            "instance_uuid": sys.argv[3],
                            "vir_domain_event": "STOPPED_FAILED"}}}
            masakari.SendNotification().send_notification(
                CONF.callback.retry_max, CONF.callback.retry_interval, event)
            """
        )
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-c", snippet, str(self.conf_path),
             hostname or self.hostname, instance_uuid],
            capture_output=True, text=True, env=child_env(), timeout=300,
        )
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"upstream notifier failed ({proc.returncode}):\n{output}")
        return output


def main(argv: Sequence[str]) -> int:
    """Run upstream in the foreground: python -m tests.bed.upstream RUNDIR ENDPOINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if len(argv) != 2:
        log.error("usage: python -m tests.bed.upstream RUNDIR ENDPOINT")
        return 2
    with UpstreamMonitor(Path(argv[0]), argv[1]) as monitor:
        try:
            while monitor.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
