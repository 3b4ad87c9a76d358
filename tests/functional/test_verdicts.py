"""Verdicts from evidence, on real guests with the real masakari-api.

One monitor (probe_interval 2, probe_timeout 1, failure_threshold 3, the
activity check on) watches guests with the optional devices of the bed: a
virtio disk with a workload, pvpanic, an i6300esb watchdog, a disk on a tiny
filesystem with error_policy stop. Each test faults its own guest and checks
what masakari-api received, and what the monitor logged.
"""
from __future__ import annotations

import time

import pytest

from tests.functional.conftest import (
    notifications_for,
    wait_for,
    watching,
)

GUESTS = {
    "idle-hang": {"disk_mib": 16},
    "idle-kill": {"disk_mib": 16},
    "busy-kill": {"disk_mib": 16},
    "busy-off": {"disk_mib": 16},
    "pvpanic": {"pvpanic": True, "on_crash": "preserve"},
    "dog-pause": {"watchdog": "pause"},
    "dog-reset": {"watchdog": "reset"},
    "disk-full": {"disk_mib": 64, "disk_fs_mib": 8, "disk_error_policy": "stop"},
    "user-pause": {},
    "held-idle": {"disk_mib": 16},
    "held-busy": {"disk_mib": 16},
}
QUIET = 12   # seconds after which no report for a guest means none came


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    with watching(fleet.values(), api, tmp_path_factory,
                  {"introspection": {"activity_check": True}}) as proc:
        yield proc


def reported(api, guest, count: int = 1, timeout: float = 60) -> list[dict]:
    return wait_for(lambda: len(notifications_for(api, guest.uuid)) >= count
                    and notifications_for(api, guest.uuid),
                    timeout, what=f"notification {count} for {guest.name}")


def never_reported(api, guest, seconds: float = QUIET) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert notifications_for(api, guest.uuid) == [], guest.name
        time.sleep(0.5)


def test_hung_agent_on_an_idle_guest_is_reported_once_within_8_s(
        fleet, api, monitor, timings):
    guest = fleet["idle-hang"]
    started = time.monotonic()
    guest.control("agent-hang")
    found = reported(api, guest)
    timings["hang, idle guest"] = time.monotonic() - started
    time.sleep(6)
    assert len(notifications_for(api, guest.uuid)) == 1
    assert found[0]["payload"]["instance_uuid"] == guest.uuid
    assert timings["hang, idle guest"] < 12
    assert "failed: unresponsive" in monitor.log_text() or \
        "failed: disconnected" in monitor.log_text()


def test_killed_agent_on_an_idle_guest_is_reported(fleet, api, monitor, timings):
    guest = fleet["idle-kill"]
    started = time.monotonic()
    guest.control("agent-kill")
    reported(api, guest)
    timings["agent killed, idle guest"] = time.monotonic() - started
    time.sleep(6)
    assert len(notifications_for(api, guest.uuid)) == 1


def test_killed_agent_while_writing_is_not_reported_until_it_stops(
        fleet, api, monitor, timings):
    guest = fleet["busy-kill"]
    guest.disk_start()
    time.sleep(2)
    guest.control("agent-kill")
    never_reported(api, guest, 40)
    log = monitor.log_text()
    warnings = [line for line in log.splitlines()
                if guest.uuid in line and "but the guest is active" in line]
    assert len(warnings) == 1, warnings
    assert "disk requests" in warnings[0]
    stopped = time.monotonic()
    guest.disk_stop()
    reported(api, guest, timeout=30)
    timings["active guest, workload stopped"] = time.monotonic() - stopped
    assert timings["active guest, workload stopped"] < 15
    assert f"({guest.uuid}) failed: inactive" in monitor.log_text()


def test_agent_stopped_then_power_off_while_writing_is_not_reported(
        fleet, api, monitor):
    guest = fleet["busy-off"]
    guest.disk_start()
    time.sleep(2)
    guest.control("agent-stop")
    guest.poweroff_after(20)
    guest.wait_state("shutoff", timeout=60)
    never_reported(api, guest, 8)


def test_panic_with_pvpanic_and_preserve_is_reported_at_once(
        fleet, api, monitor, timings):
    guest = fleet["pvpanic"]
    started = time.monotonic()
    guest.control("panic")
    reported(api, guest, timeout=30)
    timings["panic with pvpanic"] = time.monotonic() - started
    assert timings["panic with pvpanic"] < 4
    assert f"({guest.uuid}) failed: crashed" in monitor.log_text()


def test_watchdog_pause_is_reported_and_reset_is_not(fleet, api, monitor, timings):
    paused, reset = fleet["dog-pause"], fleet["dog-reset"]
    for guest in (paused, reset):
        guest.watchdog_arm(2)
    started = time.monotonic()
    for guest in (paused, reset):
        guest.watchdog_starve()
    reported(api, paused, timeout=40)
    timings["watchdog pause"] = time.monotonic() - started
    never_reported(api, reset, 10)
    assert f"({paused.uuid}) failed: watchdog" in monitor.log_text()
    assert f"({reset.uuid}) expired; its action (reset)" in monitor.log_text()


def test_full_disk_with_error_policy_stop_is_reported(fleet, api, monitor, timings):
    guest = fleet["disk-full"]
    guest.fill_disk()
    started = time.monotonic()
    guest.disk_start()
    guest.wait_state("paused", "ioerror", timeout=60)
    reported(api, guest, timeout=30)
    timings["disk full, paused"] = time.monotonic() - started
    assert f"({guest.uuid}) failed: failure_pause" in monitor.log_text()


def test_a_user_pause_is_not_reported(fleet, api, monitor):
    guest = fleet["user-pause"]
    guest.suspend()
    try:
        never_reported(api, guest, 12)
    finally:
        guest.resume()


def test_a_held_agent_call_on_a_hung_idle_guest_is_reported(fleet, api, monitor):
    guest = fleet["held-idle"]
    guest.control("agent-hang")
    with guest.hold_agent_call(timeout=None):
        reported(api, guest, timeout=40)


def test_a_held_agent_call_on_a_guest_that_writes_is_not_reported(
        fleet, api, monitor):
    guest = fleet["held-busy"]
    guest.disk_start()
    time.sleep(2)
    guest.control("agent-hang")
    with guest.hold_agent_call(timeout=None):
        never_reported(api, guest, 20)
    guest.disk_stop()
