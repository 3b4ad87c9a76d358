"""Clean delivery (issue 11) on the real bed: the service, real guests, masakari-api.

Needs libvirtd: run under ``flock /work/libvirtd.lock``. Wrong host then
fixed, the API down while a guest hangs and recovers (needs the decision
core to call ``withdraw``), a host on maintenance, and a kill -9 right after
Masakari's 202. The same delivery cases without guests are in
test_delivery_api.py.
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

PREFIX = "deliv-"


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests):
    return boot_guests(bed_image, {PREFIX + "one": {}, PREFIX + "two": {},
                                   PREFIX + "crash": {"pvpanic": True}})


def new_monitor(rundir, api, host=HOSTNAME, state=None, options=None, env=None):
    from tests.bed.service import MonitorProcess
    proc = MonitorProcess(rundir, endpoint=api.endpoint, host=host, options=options,
                          env=env)
    if state is not None:
        proc.sections["DEFAULT"]["state_path"] = state
    return proc


def test_wrong_host_then_fixed_delivers_the_pending_once_each(fleet, clean_api, tmp_path):
    guests = [fleet[PREFIX + "one"], fleet[PREFIX + "two"]]
    state = tmp_path / "state"
    first = new_monitor(tmp_path / "first", clean_api, host="compute-typo", state=state)
    try:
        with first:
            wait_healthy(first, guests)
            for guest in guests:
                guest.control("agent-hang")
            first.wait_log(r"ERROR .*compute-typo", timeout=90)
            wait_for(lambda: len(list((state / "spool").glob("*.json"))) == 2, 60,
                     what="both notifications spooled")
            assert clean_api.notifications() == []
        second = new_monitor(tmp_path / "second", clean_api, state=state)
        with second:
            found = clean_api.wait_notifications(2, timeout=60)
            time.sleep(8)
            found = clean_api.notifications()
            assert sorted(n["payload"]["instance_uuid"] for n in found) == \
                sorted(g.uuid for g in guests)
    finally:
        for guest in guests:
            guest.heal()


def test_outage_then_guest_recovers_nothing_delivered(fleet, clean_api, tmp_path):
    victim = fleet[PREFIX + "one"]
    with new_monitor(tmp_path, clean_api) as monitor:
        wait_healthy(monitor, fleet.values())
        clean_api.stop()
        victim.control("agent-hang")
        monitor.wait_log(rf"{victim.uuid}\) failed: ", timeout=60)
        monitor.wait_log("Masakari API unavailable", timeout=30)
        victim.heal()
        monitor.wait_log(rf"Withdrew the pending notification for {victim.uuid}", timeout=60)
        clean_api.start()
        time.sleep(10)
        assert clean_api.notifications() == []
        assert not list((monitor.state_path / "spool").glob("*.json"))


def test_maintenance_409_then_one_notification(fleet, clean_api, tmp_path):
    victim = fleet[PREFIX + "two"]
    clean_api.set_maintenance(HOSTNAME, True)
    try:
        with new_monitor(tmp_path, clean_api) as monitor:
            wait_healthy(monitor, fleet.values())
            victim.control("agent-hang")
            monitor.wait_log(r"WARNING .*on maintenance", timeout=90)
            time.sleep(8)   # a few more 409s
            assert clean_api.notifications() == []
            clean_api.set_maintenance(HOSTNAME, False)
            wait_for(lambda: notifications_for(clean_api, victim.uuid), 60,
                     what="the notification after maintenance")
            time.sleep(8)
            assert len(clean_api.notifications()) == 1
            assert monitor.count("on maintenance") >= 1
            assert monitor.count(r"WARNING .*on maintenance") == 1
    finally:
        victim.heal()


def test_kill_after_202_then_restart_sends_nothing_twice(fleet, clean_api, tmp_path):
    victim = fleet[PREFIX + "one"]
    state = tmp_path / "state"
    entry = state / "spool" / f"{victim.uuid}.json"
    first = new_monitor(tmp_path / "first", clean_api, state=state)
    saved: list[bytes] = []
    try:
        with first:
            wait_healthy(first, fleet.values())
            victim.control("agent-hang")
            wait_for(lambda: entry.exists() and saved.append(entry.read_bytes()) is None
                     and b'"started"' in saved[-1], 60, interval=0.005,
                     what="the entry marked started")
            wait_for(lambda: notifications_for(clean_api, victim.uuid), 30,
                     what="the 202")
            first.kill()
        # a kill -9 in the window between the 202 and the unlink leaves this
        if not entry.exists():
            entry.write_bytes(saved[-1])
        second = new_monitor(tmp_path / "second", clean_api, state=state)
        with second:
            second.wait_log("took effect", timeout=60)
            time.sleep(8)
            assert len(notifications_for(clean_api, victim.uuid)) == 1
            assert not entry.exists()
    finally:
        victim.heal()


# The bed reports a hang (2 s interval, threshold 3) within this many seconds.
FAILURE_WINDOW = 10


def test_a_second_failure_within_masakaris_duplicate_window_is_delivered(
        fleet, masakari_venv, tmp_path):
    """Issue 18: masakari-api with a 60 s duplicate window; a guest is
    reported, answers again, hangs again 20 s later: a second notification
    is accepted within the window plus a failure window."""
    from tests.bed.masakari import MasakariAPI
    victim = fleet[PREFIX + "one"]
    with MasakariAPI(tmp_path / "masakari", HOSTNAME, venv=masakari_venv,
                     extra_conf={"DEFAULT": {
                         "duplicate_notification_detection_interval": "60"}}) as api, \
            new_monitor(tmp_path / "mon", api,
                        options={"masakari": {"duplicate_window": 60}}) as monitor:
        try:
            wait_healthy(monitor, [victim])
            victim.control("agent-hang")
            first = wait_for(lambda: notifications_for(api, victim.uuid), 60,
                             what="the first notification")[0]
            accepted = time.monotonic()
            victim.heal()
            monitor.wait_log(rf"{victim.uuid}\) answers again", timeout=60)
            time.sleep(max(0.0, accepted + 20 - time.monotonic()))
            victim.control("agent-hang")
            monitor.wait_log(r"duplicate_window = 60 s: this is a new failure", timeout=60)
            found = wait_for(lambda: len(notifications_for(api, victim.uuid)) == 2
                             and notifications_for(api, victim.uuid), 60 + FAILURE_WINDOW + 30,
                             interval=0.5, what="the second notification")
            took = time.monotonic() - accepted
            assert took <= 60 + FAILURE_WINDOW + 5, f"second one after {took:.0f} s"
            times = sorted(n["generated_time"] for n in found)
            assert times[0] == first["generated_time"]
            gap = (_parse(times[1]) - _parse(times[0])).total_seconds()
            assert gap > 60, times
            time.sleep(5)
            assert len(notifications_for(api, victim.uuid)) == 2
            assert monitor.count(r"ERROR .*duplicate_window") == 0
        finally:
            victim.heal()


def _parse(stamp: str):
    import datetime
    return datetime.datetime.fromisoformat(stamp.removesuffix("Z"))


def test_a_crashed_guest_started_by_hand_during_an_outage_is_not_recovered(
        fleet, clean_api, tmp_path):
    """Issue 18: a notification belongs to one QEMU process: API down, the
    guest crashes and is started again by hand, API back: nothing sent."""
    victim = fleet[PREFIX + "crash"]
    with new_monitor(tmp_path, clean_api) as monitor:
        wait_healthy(monitor, fleet.values())
        clean_api.stop()
        victim.control("panic")
        monitor.wait_log(rf"{victim.uuid}\) failed: crashed", timeout=60)
        monitor.wait_log("Masakari API unavailable", timeout=30)
        victim.wait_state("shutoff", timeout=30)
        victim.start()
        monitor.wait_log(rf"Withdrew the pending notification for {victim.uuid}: "
                         "new QEMU process", timeout=60)
        clean_api.start()
        time.sleep(10)
        assert notifications_for(clean_api, victim.uuid) == []
        assert not list((monitor.state_path / "spool").glob("*.json"))
        victim.wait_agent(timeout=120)


def test_a_wall_clock_step_back_does_not_stall_delivery(fleet, clean_api, tmp_path):
    """Issue 18: the service's wall clock stepped back one hour (an LD_PRELOAD
    shim; monotonic untouched), then a hang: the notification reaches
    masakari-api within a failure window plus 5 s."""
    from tests.bed import clockstep
    victim = fleet[PREFIX + "two"]
    shim = clockstep.build(tmp_path / "shim")
    step_file = tmp_path / "step"
    env = {"LD_PRELOAD": str(shim), clockstep.ENV: str(step_file)}
    with new_monitor(tmp_path / "mon", clean_api, env=env) as monitor:
        try:
            wait_healthy(monitor, fleet.values())
            step_file.write_text("-3600")
            monitor.wait_log(r"The wall clock stepped by -3\d{3}", timeout=30)
            hung = time.monotonic()
            victim.control("agent-hang")
            wait_for(lambda: notifications_for(clean_api, victim.uuid),
                     FAILURE_WINDOW + 30, interval=0.2, what="the notification")
            took = time.monotonic() - hung
            assert took <= FAILURE_WINDOW + 5, f"delivered {took:.1f} s after the hang"
            time.sleep(5)
            assert len(notifications_for(clean_api, victim.uuid)) == 1
        finally:
            victim.heal()
