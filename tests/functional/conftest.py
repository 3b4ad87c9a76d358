"""Functional tests on the real bed: libvirtd, QEMU guests with qemu-ga, masakari-api.

They run as root on Debian/Ubuntu. When the host cannot run them the session
fails, naming what is missing; only MASAKARI_INTROSPECT_SKIP_FUNCTIONAL=1 (for
machines where one is not root) turns that into a skip.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SKIP_ENV = "MASAKARI_INTROSPECT_SKIP_FUNCTIONAL"
HOSTNAME = "compute-bed-1"
PREFIX = "mi-ft-"


def _bed_unavailable(reason: str) -> None:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: {reason}")
    pytest.fail(f"the functional test bed cannot run here: {reason} "
                f"(set {SKIP_ENV}=1 to skip explicitly)", pytrace=False)


@pytest.fixture(scope="session")
def bed_image():
    """Host prepared (packages, libvirtd) and the guest image built."""
    try:
        from tests.bed import host, image
    except ImportError as exc:
        _bed_unavailable(f"cannot import the bed: {exc}")
    missing = host.missing_requirements()
    if missing:
        _bed_unavailable(", ".join(missing))
    try:
        host.prepare_host()
        return image.build_image()
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        _bed_unavailable(f"host preparation failed: {exc!r}")


@pytest.fixture(scope="session")
def masakari_venv(bed_image):
    from tests.bed import masakari
    return masakari.ensure_venv()


def boot_guests(image, specs: dict[str, dict]) -> dict:
    """Define and start guests concurrently; wait for agents that should answer."""
    from tests.bed.guest import Guest

    guests = {role: Guest.define(PREFIX + role, image, **kwargs)
              for role, kwargs in specs.items()}
    for guest in guests.values():
        guest.start()

    def ready(role: str) -> None:
        if specs[role].get("agent_channel", True) and \
                specs[role].get("agent_autostart", True):
            guests[role].wait_agent(timeout=180)

    with concurrent.futures.ThreadPoolExecutor(len(guests)) as pool:
        list(pool.map(ready, guests))
    return guests


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests, request) -> dict:
    """The module's ``GUESTS`` (role: Guest.define options), booted once
    for the module, by role."""
    return boot_guests(bed_image, request.module.GUESTS)


@contextlib.contextmanager
def booted_on_demand(image, prefix: str) -> Iterator:
    """A factory of guests named ``prefix`` + role, each defined and booted
    on first use; every guest of ``prefix`` is removed before and after."""
    from tests.bed.guest import Guest, destroy_all

    destroy_all(prefix)
    booted: dict[str, Guest] = {}

    def guest(role: str, **options) -> Guest:
        if role not in booted:
            booted[role] = Guest.define(prefix + role, image, **options)
            booted[role].start()
            booted[role].wait_agent(timeout=120)
        return booted[role]

    try:
        yield guest
    finally:
        destroy_all(prefix)


@pytest.fixture(scope="module")
def events(bed_image):
    """libvirt's domain events, recorded for the module."""
    from tests.bed.events import EventRecorder
    with EventRecorder() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def cleanup_guests(bed_image) -> Iterator[None]:
    """Each module starts and ends without guests of the bed: guests left
    running by earlier modules (TCG, two cores) slow every boot after them."""
    from tests.bed.guest import destroy_all
    destroy_all(PREFIX)
    yield
    destroy_all(PREFIX)


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def notifications_for(api, uuid: str) -> list[dict]:
    return [n for n in api.notifications()
            if n["payload"].get("instance_uuid") == uuid]


@contextlib.contextmanager
def masakari_api(masakari_venv, tmp_path_factory, *,
                 short_dedup: bool = True) -> Iterator:
    """A real masakari-api; with short_dedup, an identical payload is a
    duplicate for 1 s only, so that a second episode shows up."""
    from tests.bed.masakari import MasakariAPI
    extra = {"DEFAULT": {"duplicate_notification_detection_interval": "1"}} \
        if short_dedup else None
    with MasakariAPI(tmp_path_factory.mktemp("masakari"), HOSTNAME,
                     venv=masakari_venv, extra_conf=extra) as api:
        yield api


@pytest.fixture(scope="module")
def api(masakari_venv, tmp_path_factory):
    """A masakari-api for the module, with the short duplicate window."""
    with masakari_api(masakari_venv, tmp_path_factory) as api:
        yield api


@pytest.fixture()
def clean_api(api):
    """The module's masakari-api, running, emptied, this host out of
    maintenance; running and out of maintenance again afterwards."""
    if not api.running:
        api.start()
    api.reset()
    api.set_maintenance(HOSTNAME, False)
    yield api
    if not api.running:
        api.start()
    api.set_maintenance(HOSTNAME, False)


def wait_healthy(monitor, guests, after=None) -> None:
    """Until the monitor logged each of ``guests`` healthy."""
    for guest in guests:
        monitor.wait_log(rf"{guest.uuid}\): \w+ -> healthy", timeout=60,
                         after=after)


@contextlib.contextmanager
def watching(guests, api, tmp_path_factory, options=None) -> Iterator:
    """The monitor, started, once every guest in ``guests`` is healthy."""
    from tests.bed.service import MonitorProcess
    proc = MonitorProcess(tmp_path_factory.mktemp("monitor"), endpoint=api.endpoint,
                          host=HOSTNAME, options=options)
    with proc:
        for guest in guests:
            proc.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=90)
        yield proc


def rundir(tmp_path_factory, name: str) -> Path:
    return tmp_path_factory.mktemp(name)


_TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    """Fault-to-notification times, printed at the end of the run."""
    return _TIMINGS


def pytest_terminal_summary(terminalreporter) -> None:
    if _TIMINGS:
        terminalreporter.write_sep("-", "fault -> notification visible in masakari-api")
        for label, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{label:28s} {seconds:6.1f} s")


def wait_all_reported(api, guests, started: float, timeout: float = 60
                      ) -> dict[str, float]:
    """Wait for a notification for each of ``guests``: seconds from
    ``started`` (monotonic) to the first one seen, by UUID."""
    seen: dict[str, float] = {}

    def all_reported():
        for guest in guests:
            if guest.uuid not in seen and notifications_for(api, guest.uuid):
                seen[guest.uuid] = time.monotonic() - started
        return len(seen) == len(guests)

    wait_for(all_reported, timeout, what="a notification for each guest")
    return seen
