"""A real masakari-api (22.0.0, from PyPI) on loopback, for functional tests.

The server runs from its own virtual environment, cached outside the repo
(``$MASAKARI_BED_CACHE`` or ``~/.cache/masakari-introspect-bed``), because it
drags in eventlet, oslo.*, taskflow and keystonemiddleware, none of which the
project itself needs.

Configuration used (see ``MasakariAPI.write_conf``):

* ``auth_strategy = noauth2``: every request is admin, no header at all is
  required (no X-Auth-Token, no X-Project-Id, no OpenStack-API-Version; the
  microversion defaults to 1.0). keystoneauth1's ``NoAuth`` plugin, which
  sends ``X-Auth-Token: notused``, works unchanged.
* ``transport_url = fake://``: the API alone, no engine, so notifications
  stay ``new`` forever.
* sqlite databases in the run directory; the database survives ``stop()`` so
  that a later ``start()`` sees the same segment, host and notifications.

Hosts cannot be created through the API without Nova (the API checks the name
against nova-compute services), so ``create_segment_and_host`` creates the
segment through the API and inserts the host row into sqlite directly.

Usage::

    with MasakariAPI(tmp_path / "masakari", hostname="compute-1") as api:
        client.post(api.endpoint + "/notifications", ...)
        assert len(api.wait_notifications(1, timeout=30)) == 1
"""
from __future__ import annotations

import atexit
import contextlib
import datetime
import logging
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import requests

from .host import cache_dir
from .process import GroupProcess, read_texts, write_ini
from .venv import build_venv, run_logged

log = logging.getLogger(__name__)

MASAKARI_REQUIREMENTS: tuple[str, ...] = ("masakari==22.0.0",)
API_VERSION_HEADER = {"OpenStack-API-Version": "instance-ha 1.0"}
DEFAULT_SEGMENT = "bed-segment"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
SQLITE_TIMEOUT = 10.0


# --- virtual environments ----------------------------------------------------


def ensure_venv() -> Path:
    """The virtualenv holding masakari 22.0.0 (built on first use, ~30 s)."""
    return build_venv(cache_dir() / "masakari-venv", MASAKARI_REQUIREMENTS)


_RUNNING: set[MasakariAPI] = set()  # started and not stopped yet


@atexit.register
def _stop_leftovers() -> None:
    for api in list(_RUNNING):
        log.warning("stopping masakari-api left running at %s", api.url)
        api.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _utcnow_db() -> str:
    """Current UTC time in the format SQLAlchemy stores DATETIME columns in sqlite."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")


# --- the API server --------------------------------------------------------------


class MasakariAPI:
    """masakari-api on 127.0.0.1, its config, logs and sqlite database in rundir.

    The port is chosen once, in the constructor, and kept across stop()/start(),
    so a client configured with ``endpoint`` reaches the API again after a
    restart. The database is kept too; ``reset()`` empties the notifications.
    """

    def __init__(
        self,
        rundir: Path,
        hostname: str = socket.gethostname(),
        *,
        port: int | None = None,
        segment_name: str = DEFAULT_SEGMENT,
        extra_conf: Mapping[str, Mapping[str, str]] | None = None,
        venv: Path | None = None,
    ) -> None:
        """
        :param rundir: directory for masakari.conf, logs and the sqlite databases
        :param hostname: compute host registered in Masakari on a fresh database
            (the name notifications must carry); the default is what upstream
            masakari-monitors sends, ``socket.gethostname()``
        :param port: fixed port, else a free one
        :param segment_name: failover segment created on a fresh database
        :param extra_conf: more options, ``{section: {option: value}}``, e.g.
            ``{"DEFAULT": {"duplicate_notification_detection_interval": "10"}}``
        :param venv: masakari virtualenv, else ``ensure_venv()`` at start()
        """
        self.rundir = Path(rundir)
        self.hostname = hostname
        self.segment_name = segment_name
        self._port = port if port is not None else free_port()
        self._extra_conf = {section: dict(opts) for section, opts in (extra_conf or {}).items()}
        self._venv = venv
        self._server = GroupProcess("masakari-api")
        self._http = requests.Session()

    # -- addresses and files

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def endpoint(self) -> str:
        """The instance-ha endpoint, as a Keystone catalog would list it."""
        return f"{self.url}/v1"

    @property
    def conf_path(self) -> Path:
        return self.rundir / "masakari.conf"

    @property
    def db_path(self) -> Path:
        return self.rundir / "masakari.sqlite"

    @property
    def log_path(self) -> Path:
        return self.rundir / "masakari-api.log"

    @property
    def running(self) -> bool:
        return self._server.running

    def log_text(self) -> str:
        """The API's log file (plus its stdout/stderr capture), for failure messages."""
        return read_texts(self.log_path, self.rundir / "masakari-api.out")

    # -- lifecycle

    def write_conf(self, venv: Path) -> None:
        paste = venv / "etc" / "masakari" / "api-paste.ini"
        if not paste.is_file():
            raise RuntimeError(f"api-paste.ini not found at {paste}")
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {
                "auth_strategy": "noauth2",
                "transport_url": "fake://",
                "masakari_api_listen": "127.0.0.1",
                "masakari_api_listen_port": str(self._port),
                "masakari_api_workers": "1",
                "notification_delay_max": "0",
                "log_file": str(self.log_path),
                "debug": "false",
            },
            "database": {"connection": f"sqlite:///{self.db_path}"},
            "taskflow": {"connection": f"sqlite:///{self.rundir / 'taskflow.sqlite'}"},
            "wsgi": {"api_paste_config": str(paste)},
            "oslo_concurrency": {"lock_path": str(self.rundir / "locks")},
        }
        for section, opts in self._extra_conf.items():
            sections.setdefault(section, {}).update(opts)
        write_ini(self.conf_path, sections)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Write the config, create the database if needed, run masakari-api, wait for it."""
        if self.running:
            return
        venv = self._venv or ensure_venv()
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.write_conf(venv)
        fresh = not self.db_path.exists()
        if fresh:
            started = time.monotonic()
            run_logged(
                [venv / "bin" / "masakari-manage", "--config-file", self.conf_path, "db", "sync"],
                self.rundir / "db-sync.log",
            )
            log.info("masakari db sync took %.1f s", time.monotonic() - started)

        started = time.monotonic()
        # Own process group: stop() signals the parent and its worker.
        self._server.start(
            [str(venv / "bin" / "masakari-api"), "--config-file", str(self.conf_path)],
            self.rundir / "masakari-api.out")
        _RUNNING.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        log.info("masakari-api up at %s in %.1f s", self.url, time.monotonic() - started)
        if fresh:
            self.create_segment_and_host(self.hostname)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self._server.running:
                raise RuntimeError(f"masakari-api exited:\n{self.log_text()[-4000:]}")
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"masakari-api not answering on {self.url} after {timeout} s:\n"
                    f"{self.log_text()[-4000:]}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the API (parent and worker), wait; SIGKILL if it lingers. Keeps the DB."""
        self._server.stop(timeout)
        _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL the API (parent and worker) at once. Keeps the DB."""
        self._server.kill()
        _RUNNING.discard(self)

    def __enter__(self) -> MasakariAPI:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._http.close()

    # -- HTTP and database helpers

    def _request(self, method: str, path: str, json: object = None) -> requests.Response:
        return self._http.request(
            method, self.endpoint + path, headers=API_VERSION_HEADER, json=json, timeout=10
        )

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A short sqlite transaction on the API's database (committed on success)."""
        conn = sqlite3.connect(self.db_path, timeout=SQLITE_TIMEOUT)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def segment_uuid(self, name: str | None = None) -> str | None:
        """UUID of the (not deleted) segment called name, or None."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT uuid FROM failover_segments WHERE name = ? AND deleted = 0",
                (name or self.segment_name,),
            ).fetchone()
        return row[0] if row else None

    def create_segment_and_host(self, hostname: str, segment_name: str | None = None) -> str:
        """Register hostname as a COMPUTE host; return the host's UUID.

        The segment is created through the API (``POST /v1/segments``, schema:
        name, recovery_method in auto|reserved_host|auto_priority|rh_priority,
        service_type) unless it exists; the host row goes straight into sqlite
        because ``POST /v1/segments/{id}/hosts`` needs Nova.
        """
        segment_name = segment_name or self.segment_name
        segment = self.segment_uuid(segment_name)
        if segment is None:
            body = {"segment": {"name": segment_name, "recovery_method": "auto",
                                "service_type": "COMPUTE"}}
            response = self._request("POST", "/segments", json=body)
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /segments answered {response.status_code}: {response.text}"
                )
            segment = response.json()["segment"]["uuid"]
        host_uuid = str(uuid.uuid4())
        with self._db() as conn:
            conn.execute(
                "INSERT INTO hosts (created_at, deleted, uuid, name, reserved, type,"
                " control_attributes, on_maintenance, failover_segment_id)"
                " VALUES (?, 0, ?, ?, 0, 'COMPUTE', 'SSH', 0, ?)",
                (_utcnow_db(), host_uuid, hostname, segment),
            )
        log.info("registered host %s (%s) in segment %s", hostname, host_uuid, segment)
        return host_uuid

    def host_uuid(self, hostname: str) -> str | None:
        """The uuid Masakari gave the host row named hostname."""
        with self._db() as conn:
            row = conn.execute("SELECT uuid FROM hosts WHERE name = ? AND deleted = 0",
                               (hostname,)).fetchone()
        return row[0] if row else None

    def set_maintenance(self, hostname: str, on: bool) -> None:
        """Put a host on (or take it off) maintenance; the API then answers 409."""
        with self._db() as conn:
            updated = conn.execute(
                "UPDATE hosts SET on_maintenance = ?, updated_at = ?"
                " WHERE name = ? AND deleted = 0",
                (1 if on else 0, _utcnow_db(), hostname),
            ).rowcount
        if updated != 1:
            raise KeyError(f"no host named {hostname!r} in masakari")

    def notifications(self) -> list[dict]:
        """All notifications the API accepted, oldest first (``GET /v1/notifications``)."""
        response = self._request("GET", "/notifications")
        response.raise_for_status()
        return sorted(response.json()["notifications"], key=lambda n: n["id"])

    def wait_notifications(
        self, count: int, timeout: float = 60.0, interval: float = 0.25
    ) -> list[dict]:
        """Poll until at least count notifications were accepted; return them all.

        Raises TimeoutError (with what did arrive) when they do not come in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.notifications()
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(found)} of {count} notifications after {timeout} s: {found}"
                )
            time.sleep(interval)

    def reset(self) -> None:
        """Forget every notification, so the next test starts clean (no 409 duplicates)."""
        with self._db() as conn:
            conn.execute("DELETE FROM notifications")
        log.debug("masakari notifications emptied")


def main(argv: Sequence[str]) -> int:
    """Run an API in the foreground: python -m tests.bed.masakari RUNDIR [HOSTNAME]."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not argv:
        log.error("usage: python -m tests.bed.masakari RUNDIR [HOSTNAME]")
        return 2
    api = MasakariAPI(Path(argv[0]), *argv[1:2])
    with api:
        log.info("endpoint %s (host %s); Ctrl-C to stop", api.endpoint, api.hostname)
        try:
            while api.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
