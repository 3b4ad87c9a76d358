"""Detection on real guests: each fault injected from inside a guest.

One monitor (probe_interval 2, probe_timeout 1, failure_threshold 3) watches
a fleet of tiny guests booted once for the module; each test faults its own
guest and checks what masakari-api received.
"""
from __future__ import annotations

import time

import pytest

from tests.functional.conftest import HOSTNAME, notifications_for, wait_for

GUESTS = {
    "healthy": {},
    "kill": {},
    "hang": {},
    "again": {},
    "panic": {},
    "pause": {},
    "reboot": {},
    "destroy": {},
    "nochannel": {"agent_channel": False},
    "noagent": {"agent_autostart": False},
}
NEVER_REPORTED = ("healthy", "reboot", "destroy", "nochannel", "noagent")
GRACE = 30


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    from tests.bed.service import MonitorProcess
    proc = MonitorProcess(tmp_path_factory.mktemp("monitor"), endpoint=api.endpoint,
                          host=HOSTNAME,
                          options={"introspection": {"boot_grace_period": GRACE}})
    with proc:
        for role in ("healthy", "kill", "hang"):
            proc.wait_log(rf"{fleet[role].uuid}\): grace -> healthy", timeout=60)
        yield proc


def fault_and_wait(api, guest, command: str, timings, label: str,
                   count: int = 1, timeout: float = 90) -> list[dict]:
    started = time.monotonic()
    guest.control(command)
    found = wait_for(lambda: len(notifications_for(api, guest.uuid)) >= count
                     and notifications_for(api, guest.uuid),
                     timeout, what=f"notification {count} for {guest.name}")
    timings[label] = time.monotonic() - started
    return found


def test_killed_agent_is_reported_once(fleet, api, monitor, timings):
    guest = fleet["kill"]
    found = fault_and_wait(api, guest, "agent-kill", timings, "agent killed")
    assert len(found) == 1
    body = found[0]
    assert body["type"] == "VM"
    # Masakari accepts a VM notification only for a registered host name.
    assert body["source_host_uuid"] == api.host_uuid(HOSTNAME)
    assert body["payload"] == {"event": "QEMU_GUEST_AGENT_ERROR",
                               "instance_uuid": guest.uuid,
                               "vir_domain_event": "STOPPED_FAILED"}
    time.sleep(8)  # four more probe intervals of misses
    assert len(notifications_for(api, guest.uuid)) == 1
    guest.heal()
    monitor.wait_log(rf"{guest.uuid}\) answers again", timeout=30)


def test_hung_agent_is_reported_once(fleet, api, monitor, timings):
    guest = fleet["hang"]
    fault_and_wait(api, guest, "agent-hang", timings, "agent hung (SIGSTOP)")
    time.sleep(12)  # two more 5 s re-sync rounds of misses
    assert len(notifications_for(api, guest.uuid)) == 1
    guest.heal()
    monitor.wait_log(rf"{guest.uuid}\) answers again", timeout=30)


def test_recovered_guest_is_reported_again(fleet, api, monitor, timings):
    guest = fleet["again"]
    fault_and_wait(api, guest, "agent-hang", timings, "first hang")
    guest.heal()
    monitor.wait_log(rf"{guest.uuid}\) answers again", timeout=30)
    assert len(notifications_for(api, guest.uuid)) == 1
    found = fault_and_wait(api, guest, "agent-hang", timings, "second hang", count=2)
    assert len(found) == 2
    assert found[0]["generated_time"] != found[1]["generated_time"]
    guest.heal()


def test_panicked_kernel_is_reported_once(fleet, api, monitor, timings):
    guest = fleet["panic"]
    fault_and_wait(api, guest, "panic", timings, "kernel panic")
    assert guest.is_running(), "panic=0 keeps the domain running, hung"
    time.sleep(10)
    assert len(notifications_for(api, guest.uuid)) == 1
    guest.destroy()  # a panicked TCG guest spins a whole host core


def test_paused_guest_is_not_reported_and_is_watched_after_resume(fleet, api, monitor,
                                                                    timings):
    guest = fleet["pause"]
    guest.suspend()
    monitor.wait_log(rf"{guest.uuid}\): healthy -> paused", timeout=10)
    time.sleep(12)  # six probe intervals while paused
    assert notifications_for(api, guest.uuid) == []
    mark = monitor.mark()
    guest.resume()
    monitor.wait_log(rf"{guest.uuid}\): paused -> grace", timeout=10, after=mark)
    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=30, after=mark)
    assert notifications_for(api, guest.uuid) == []
    # Monitoring really resumed: a hang after the resume is caught.
    fault_and_wait(api, guest, "agent-hang", timings, "hang after resume")
    guest.heal()


def test_guest_reboot_is_not_reported(fleet, api, monitor):
    guest = fleet["reboot"]
    mark = monitor.mark()
    guest.reboot_from_inside()
    # The agent's disconnect may come first and count one miss.
    monitor.wait_log(rf"{guest.uuid}\): \w+ -> grace \(rebooted\)", timeout=20, after=mark)
    guest.wait_agent(timeout=60)
    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=30, after=mark)
    time.sleep(6)
    assert notifications_for(api, guest.uuid) == []


def test_domain_without_agent_channel_is_ignored(fleet, api, monitor):
    guest = fleet["nochannel"]
    assert guest.agent_socket() is None
    assert f"({guest.uuid}) has no" in monitor.log_text()
    assert f"Monitoring instance {guest.name}" not in monitor.log_text()
    assert notifications_for(api, guest.uuid) == []


def test_agent_that_never_starts_is_warned_about_not_reported(fleet, api, monitor):
    guest = fleet["noagent"]
    monitor.wait_log(rf"guest agent of instance {guest.name} \({guest.uuid}\) has not "
                     r"answered", timeout=GRACE + 60)
    time.sleep(8)
    assert notifications_for(api, guest.uuid) == []
    warnings = monitor.count(rf"WARNING .*guest agent of instance {guest.name} ")
    assert warnings == 1


def test_destroyed_domain_is_forgotten(fleet, api, monitor):
    guest = fleet["destroy"]
    guest.destroy()
    monitor.wait_log(rf"No longer monitoring {guest.name} \({guest.uuid}\)", timeout=15)
    time.sleep(8)
    assert notifications_for(api, guest.uuid) == []
    mark = monitor.mark()
    guest.start()
    monitor.wait_log(rf"Monitoring instance {guest.name} ", timeout=15, after=mark)
    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=90, after=mark)


def test_no_false_reports(fleet, api, monitor):
    reported = [role for role in NEVER_REPORTED
                if notifications_for(api, fleet[role].uuid)]
    assert reported == []
    assert "Traceback" not in monitor.log_text()
