"""Faults around the service, on the real bed: nothing lost, nothing false.

libvirtd restarted or stopped under a running monitor, masakari-api down
while a guest fails, the monitor killed with SIGKILL while a notification is
pending, and libvirtd not yet up when the monitor starts.
"""
from __future__ import annotations

import time

import pytest

from tests.functional.conftest import (
    HOSTNAME,
    boot_guests,
    notifications_for,
    wait_for,
    wait_healthy,
)

GUESTS = {"one": {}, "two": {}}
PREFIX = "fault-"


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests):
    return boot_guests(bed_image, {PREFIX + role: spec for role, spec in GUESTS.items()})


def new_monitor(tmp_path, api, state=None):
    from tests.bed.service import MonitorProcess
    proc = MonitorProcess(tmp_path / "monitor", endpoint=api.endpoint, host=HOSTNAME)
    if state is not None:
        proc.sections["DEFAULT"]["state_path"] = state
    return proc


def test_libvirtd_restart_and_outage_produce_no_notification(fleet, clean_api, tmp_path):
    from tests.bed import host
    guests = list(fleet.values())
    with new_monitor(tmp_path, clean_api) as monitor:
        wait_healthy(monitor, guests)
        mark = monitor.mark()
        host.restart_libvirtd()
        monitor.wait_log("Lost the libvirt connection", timeout=30, after=mark)
        monitor.wait_log("libvirt connection up", timeout=60, after=mark)
        time.sleep(8)
        mark = monitor.mark()
        host.stop_libvirtd()
        time.sleep(12)  # six probe intervals without libvirtd
        host.start_libvirtd()
        monitor.wait_log("libvirt connection up", timeout=90, after=mark)
        time.sleep(8)
        assert clean_api.notifications() == []
        assert monitor.running
        # Monitoring carries on: a hang is still caught, once.
        victim = guests[0]
        victim.control("agent-hang")
        wait_for(lambda: notifications_for(clean_api, victim.uuid), 90,
                 what="notification after libvirtd restarts")
        time.sleep(6)
        assert len(clean_api.notifications()) == 1
        victim.heal()
        assert "Traceback" not in monitor.log_text()
        assert monitor.stop() == 0


def test_api_outage_delays_but_loses_nothing(fleet, clean_api, tmp_path):
    victim = list(fleet.values())[1]
    with new_monitor(tmp_path, clean_api) as monitor:
        wait_healthy(monitor, fleet.values())
        clean_api.stop()
        started = time.monotonic()
        victim.control("agent-hang")
        monitor.wait_log(rf"{victim.uuid}\) failed: ", timeout=60)
        monitor.wait_log("Masakari API unavailable", timeout=30)
        time.sleep(max(0.0, 60 - (time.monotonic() - started)))
        assert monitor.running
        clean_api.start()
        found = clean_api.wait_notifications(1, timeout=60)
        assert [n["payload"]["instance_uuid"] for n in found] == [victim.uuid]
        time.sleep(8)
        assert len(clean_api.notifications()) == 1
        # Logged once for the outage, not once per attempt.
        assert monitor.count("Masakari API unavailable") == 1
        monitor.wait_log("Masakari API reachable again", timeout=10)
        victim.heal()


def test_sigkill_with_pending_notification_then_restart(fleet, clean_api, tmp_path):
    victim = list(fleet.values())[0]
    state = tmp_path / "state"
    first = new_monitor(tmp_path / "first", clean_api, state=state)
    with first:
        wait_healthy(first, fleet.values())
        clean_api.stop()
        victim.control("agent-hang")
        first.wait_log(rf"{victim.uuid}\) failed: ", timeout=60)
        wait_for(lambda: (state / "spool" / f"{victim.uuid}.json").exists(), 10,
                 what="the spooled notification")
        first.kill()
    second = new_monitor(tmp_path / "second", clean_api, state=state)
    with second:
        second.wait_log(rf"Monitoring instance {victim.name} \({victim.uuid}\), already "
                        r"reported", timeout=30)
        time.sleep(10)  # the guest is still hung: no new report may be decided
        assert second.count(rf"{victim.uuid}\) failed: ") == 0
        clean_api.start()
        found = clean_api.wait_notifications(1, timeout=60)
        assert [n["payload"]["instance_uuid"] for n in found] == [victim.uuid]
        time.sleep(8)
        assert len(clean_api.notifications()) == 1
        assert not (state / "spool" / f"{victim.uuid}.json").exists()
        victim.heal()
        second.wait_log(rf"{victim.uuid}\) answers again", timeout=30)


def test_waits_for_libvirtd_at_start_and_stops_cleanly(fleet, clean_api, tmp_path):
    from tests.bed import host
    host.stop_libvirtd()
    try:
        monitor = new_monitor(tmp_path, clean_api)
        monitor.start(wait_for="Cannot connect to libvirt")
        time.sleep(3)
        assert monitor.running
    finally:
        host.start_libvirtd()
    monitor.wait_log("Connected to libvirt", timeout=60)
    monitor.wait_log("Monitoring guest agents", timeout=10)
    wait_healthy(monitor, fleet.values())
    assert monitor.stop(timeout=30) == 0  # bounded: TimeoutExpired otherwise
    assert "Stopped" in monitor.log_text()
    assert clean_api.notifications() == []
