"""The kernel heartbeat (issue 19) on real guests with a virtio balloon.

One monitor (probe_interval 2, probe_timeout 1, failure_threshold 3, the
kernel heartbeat on with its default period 2) watches guests with a balloon
whose statistics period is 1 s, one whose statistics are off (the monitor
sets its period), and one without a balloon. Each test faults its own guest
and checks what masakari-api received and what the monitor logged.
"""
from __future__ import annotations

import re
import statistics
import time

import pytest

from tests.functional.conftest import (
    notifications_for,
    wait_for,
    watching,
)

PERIOD = 1
INTERVAL = 2
BOUND = 2 * PERIOD + 1 + INTERVAL + 1   # issue 19: 6 s at period 1
GUESTS = {
    "hb-panic-1": {"balloon_period": PERIOD},
    "hb-panic-2": {"balloon_period": PERIOD},
    "hb-panic-3": {"balloon_period": PERIOD},
    "hb-lost": {"balloon_period": PERIOD},
    "hb-kdump": {"balloon_period": PERIOD, "pvpanic": True},
    "hb-starve": {"balloon_period": PERIOD},
    "hb-off": {"balloon_period": 0},
    "hb-none": {},
    # shared by several cases that end with a healthy guest (no report)
    "hb-agent": {"balloon_period": PERIOD, "pvpanic": True},
    # SIGSTOP, then every process but init stopped: two reports
    "hb-hang": {"balloon_period": PERIOD},
    # agent killed, then its period changed live by an operator
    "hb-period": {"balloon_period": PERIOD},
}
QUIET = 12
KDUMP_TIMEOUT = 60


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    options = {"introspection": {"kdump_timeout": KDUMP_TIMEOUT}}
    with watching(fleet.values(), api, tmp_path_factory, options) as proc:
        # the heartbeat of every balloon guest must be live before faults
        for role in ("hb-panic-1", "hb-panic-2", "hb-panic-3", "hb-lost",
                     "hb-agent", "hb-hang", "hb-period"):
            guest = fleet[role]
            wait_for(lambda g=guest: heartbeat_age(proc, g) is not None, 30,
                     what=f"heartbeat of {guest.name}")
        yield proc


def heartbeat_age(proc, guest):
    """The heartbeat age the status command shows, or None."""
    from tests.functional.test_operator import status_json
    return status_json(proc).get(guest.name, {}).get("heartbeat_age")


def reported(api, guest, timeout: float = 60) -> list[dict]:
    return wait_for(lambda: notifications_for(api, guest.uuid), timeout,
                    what=f"notification for {guest.name}")


def test_a_kernel_panic_without_pvpanic_is_kernel_hung_within_the_bound(
        fleet, api, monitor, timings):
    times = []
    for role in ("hb-panic-1", "hb-panic-2", "hb-panic-3"):
        guest = fleet[role]
        started = time.monotonic()
        guest.panic_without_pvpanic()
        reported(api, guest, timeout=30)
        times.append(time.monotonic() - started)
        monitor.wait_log(rf"{guest.uuid}\) failed: kernel_hung", timeout=10)
    timings["kernel panic, no pvpanic, balloon period 1 (median)"] = \
        statistics.median(times)
    print(f"kernel panic -> report: {[round(t, 1) for t in times]} s")
    assert max(times) <= BOUND + 1, times   # + the control call's own time
    time.sleep(INTERVAL * 3)
    for role in ("hb-panic-1", "hb-panic-2", "hb-panic-3"):
        guest = fleet[role]
        assert len(notifications_for(api, guest.uuid)) == 1
        assert f"{guest.uuid}) failed: unresponsive" not in monitor.log_text()
    # no agent call after the report: no probe of them logged since
    mark = monitor.mark()
    time.sleep(INTERVAL * 4)
    later = monitor._log_from(mark)
    for role in ("hb-panic-1", "hb-panic-2", "hb-panic-3"):
        assert not re.search(rf"Probe \S+ \({fleet[role].uuid}\)", later)


def test_a_guest_without_a_balloon_is_judged_by_its_agent(fleet, api,
                                                           monitor, timings):
    guest = fleet["hb-none"]
    assert heartbeat_age(monitor, guest) is None
    started = time.monotonic()
    guest.control("agent-kill")
    reported(api, guest, timeout=60)
    timings["agent killed, no balloon"] = time.monotonic() - started
    assert "kernel_hung" not in "".join(
        line for line in monitor.log_text().splitlines()
        if guest.uuid in line)


def test_statistics_off_get_the_default_period_once(fleet, monitor):
    guest = fleet["hb-off"]
    monitor.wait_log(rf"statistics period of domain {guest.uuid} set to 2 s",
                     timeout=10)
    wait_for(lambda: heartbeat_age(monitor, guest) is not None, 30,
             what="heartbeat of the guest whose statistics were off")
    time.sleep(INTERVAL * 3)
    assert monitor.count(rf"period of domain {guest.uuid} set") == 1


def test_a_killed_agent_with_a_live_kernel_is_lost_not_reported(
        fleet, api, monitor):
    from tests.functional.test_operator import run
    guest = fleet["hb-lost"]
    guest.control("agent-kill")
    monitor.wait_log(rf"{guest.name} \({guest.uuid}\) closed its port, but "
                     r"its kernel is alive", timeout=15)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert notifications_for(api, guest.uuid) == []
        time.sleep(1)
    assert monitor.count(rf"{guest.uuid}\) closed its port") == 1
    table = run(monitor, "masakari-introspect-status")
    assert re.search(rf"{guest.name} .*agent lost, kernel alive", table.stdout)
    check = run(monitor, "masakari-introspect-check", "--warning-no-agent",
                "none")
    assert check.returncode >= 1, check.stdout   # others failed: CRITICAL
    assert f"agent lost, kernel alive: {guest.name}" in check.stdout
    # then its kernel dies: a dead kernel
    started = time.monotonic()
    guest.panic_without_pvpanic()
    reported(api, guest, timeout=30)
    print(f"agent lost, then kernel panic -> report in "
          f"{time.monotonic() - started:.1f} s")
    monitor.wait_log(rf"{guest.uuid}\) failed: kernel_hung", timeout=10)


def test_crash_loaded_then_silence_is_crashed_after_kdump_timeout(
        fleet, api, monitor, timings):
    guest = fleet["hb-kdump"]
    started = time.monotonic()
    guest.crash_loaded()
    monitor.wait_log(rf"{guest.uuid}\) panicked with a crash kernel",
                     timeout=15)
    guest.control("agent-kill")
    guest.balloon_unload()
    while time.monotonic() - started < KDUMP_TIMEOUT - 3:
        assert notifications_for(api, guest.uuid) == []
        time.sleep(1)
    reported(api, guest, timeout=20)
    elapsed = time.monotonic() - started
    timings["crash loaded, then silence (kdump_timeout 60)"] = elapsed
    monitor.wait_log(rf"{guest.uuid}\) failed: crashed", timeout=10)
    assert KDUMP_TIMEOUT - 3 <= elapsed <= KDUMP_TIMEOUT + INTERVAL + 8
    time.sleep(INTERVAL * 2)
    assert len(notifications_for(api, guest.uuid)) == 1


def quiet_for(api, guest, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert notifications_for(api, guest.uuid) == []
        time.sleep(1)


def test_an_agent_stopped_cleanly_is_lost_not_reported(fleet, api, monitor):
    guest = fleet["hb-agent"]
    mark = monitor.mark()
    guest.control("agent-stop")                       # SIGTERM
    monitor.wait_log(rf"{guest.uuid}\) closed its port, but its kernel is "
                     r"alive", timeout=15, after=mark)
    quiet_for(api, guest, QUIET * 2)
    guest.control("agent-start")
    guest.wait_agent(timeout=30)
    monitor.wait_log(rf"{guest.uuid}\): [a-z ,]+ -> healthy", timeout=15,
                     after=mark)


def test_a_reboot_from_inside_is_not_reported(fleet, api, monitor):
    guest = fleet["hb-agent"]
    mark = monitor.mark()
    guest.reboot_from_inside()     # the heartbeat pauses while it boots
    guest.wait_agent(timeout=120)
    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=30,
                     after=mark)
    quiet_for(api, guest, QUIET)
    assert "kernel_hung" not in monitor._log_from(mark)


def test_a_guest_that_runs_on_after_crash_loaded_is_not_reported(
        fleet, api, monitor):
    guest = fleet["hb-agent"]
    mark = monitor.mark()
    guest.crash_loaded()           # it keeps running: agent and heartbeat
    monitor.wait_log(rf"{guest.uuid}\) panicked with a crash kernel",
                     timeout=15, after=mark)
    quiet_for(api, guest, KDUMP_TIMEOUT + INTERVAL * 3)
    monitor.wait_log(rf"{guest.uuid}\) shows life", timeout=10, after=mark)


def test_a_hung_agent_then_a_frozen_userspace_are_unresponsive(
        fleet, api, monitor, timings):
    guest = fleet["hb-hang"]
    started = time.monotonic()
    guest.control("agent-hang")                       # SIGSTOP
    reported(api, guest, timeout=30)
    timings["agent SIGSTOP, balloon period 1"] = time.monotonic() - started
    monitor.wait_log(rf"{guest.uuid}\) failed: unresponsive", timeout=10)
    guest.control("agent-resume")
    monitor.wait_log(rf"{guest.uuid}\) answers again", timeout=30)
    mark = monitor.mark()
    started = time.monotonic()
    guest.freeze_userspace(60)     # every process but init
    try:
        wait_for(lambda: len(notifications_for(api, guest.uuid)) >= 2, 40,
                 what=f"second notification for {guest.name}")
        timings["userspace frozen, balloon period 1"] = \
            time.monotonic() - started
        monitor.wait_log(rf"{guest.uuid}\) failed: unresponsive",
                         timeout=10, after=mark)
    finally:
        guest.thaw_userspace()
    assert len(notifications_for(api, guest.uuid)) == 2
    assert f"{guest.uuid}) failed: kernel_hung" not in monitor.log_text()


def test_a_starved_idle_guest_is_not_reported(fleet, api, monitor):
    from tests.bed.heartbeat import Starvation
    guest = fleet["hb-starve"]
    with Starvation(guest):
        # The busy loops starve the host CPU they share, and at times the
        # monitor with it: in one CI run it logged nothing for 26 s (and
        # reported nothing), so the WARNING may come late.
        match = monitor.wait_log(
            rf"{guest.uuid}\) is starved of CPU: its vCPU or QEMU main "
            r"thread waited ([0-9.]+) s", timeout=60)
        print(f"starved: {match.group(0)}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert notifications_for(api, guest.uuid) == []
            time.sleep(1)
    monitor.wait_log(rf"{guest.uuid}\) is no longer starved", timeout=30)
    time.sleep(INTERVAL * 4)
    assert notifications_for(api, guest.uuid) == []
    assert monitor.count(rf"{guest.uuid}\) is starved of CPU") == 1


def test_with_agent_loss_report_a_killed_agent_is_reported(
        fleet, api, monitor, tmp_path_factory):
    # A second monitor with agent_loss = report watches the same host: the
    # module's monitor (warn) does not report the lost agent, this one
    # reports it once, as before issue 19.
    guest = fleet["hb-agent"]
    options = {"introspection": {"agent_loss": "report"}}
    with watching([guest], api, tmp_path_factory, options) as second:
        mark = monitor.mark()
        guest.control("agent-kill")
        reported(api, guest, timeout=30)
        second.wait_log(rf"{guest.uuid}\) failed: disconnected", timeout=10)
        monitor.wait_log(rf"{guest.uuid}\) closed its port, but its kernel "
                         r"is alive", timeout=10, after=mark)
        time.sleep(INTERVAL * 3)
        assert len(notifications_for(api, guest.uuid)) == 1


def test_a_period_changed_live_is_followed_not_reported(fleet, api, monitor):
    # The agent killed, the heartbeat is the only evidence; an operator
    # then changes the period live (libvirt raises no event): judged by
    # the old period, the stamp was stale 3 s later (kernel_hung).
    guest = fleet["hb-period"]
    mark = monitor.mark()
    guest.control("agent-kill")
    monitor.wait_log(rf"{guest.uuid}\) closed its port, but its kernel is "
                     r"alive", timeout=15, after=mark)
    guest.set_balloon_period(10)                      # virsh dommemstat
    monitor.wait_log(rf"period of domain {guest.uuid} changed from 1 to 10 s",
                     timeout=15, after=mark)
    quiet_for(api, guest, QUIET * 3)
    # Statistics turned off: respected, not set again; no heartbeat now,
    # so its lost agent is judged as without one: reported as before.
    guest.set_balloon_period(0)
    monitor.wait_log(rf"statistics of domain {guest.uuid} were turned off",
                     timeout=30, after=mark)
    monitor.wait_log(rf"{guest.uuid}\) failed: disconnected", timeout=30,
                     after=mark)
    later = monitor._log_from(mark)
    assert f"{guest.uuid}) failed: kernel_hung" not in later
    assert not re.search(rf"period of domain {guest.uuid} set", later)
    assert monitor.count(rf"statistics of domain {guest.uuid} were turned "
                         r"off") == 1
