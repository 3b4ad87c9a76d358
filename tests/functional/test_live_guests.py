"""No live guest restarted: maintenance for every reason, slow boots judged
on evidence, domain jobs, undefine (issue 17), on real guests with the real
masakari-api.

One monitor (probe_interval 2, probe_timeout 1, failure_threshold 3: a
failure window of 6 s; boot_grace_period 15) watches the guests of this
module. The tests run in order, each with its own guest.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.functional.conftest import (
    notifications_for,
    wait_for,
    watching,
)

GUESTS = {
    "mnt-panic": {"pvpanic": True, "on_crash": "preserve"},
    "mnt-dog": {"watchdog": "pause"},
    "mnt-disk": {"disk_mib": 64, "disk_fs_mib": 8,
                 "disk_error_policy": "stop"},
    "slow-boot": {"disk_mib": 16},
    "job-dump": {},
    "undefined": {},
}
INTERVAL, TIMEOUT, THRESHOLD, GRACE = 2, 1, 3, 15
WINDOW = INTERVAL * THRESHOLD
# A report "within a failure window": the window, the sample that judges
# it, a hung agent's 5 s re-synchronisation, delivery to masakari-api.
WITHIN_A_WINDOW = WINDOW + INTERVAL + 5 + 3
# After a job: the job is known to be over when a probe finds none; with a
# hung agent that probe may wait out the timeout and libvirt's 5 s
# re-synchronisation first.
AFTER_A_JOB = WITHIN_A_WINDOW + TIMEOUT + INTERVAL


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    options = {"introspection": {
        "probe_interval": INTERVAL, "probe_timeout": TIMEOUT,
        "failure_threshold": THRESHOLD, "boot_grace_period": GRACE,
        "activity_check": True}}
    with watching(fleet.values(), api, tmp_path_factory, options) as proc:
        yield proc


def count(api, guest) -> int:
    return len(notifications_for(api, guest.uuid))


def never_reported(api, guest, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert count(api, guest) == 0, f"{guest.name} reported"
        time.sleep(0.5)


def reported_once(api, guest, timeout: float, quiet: float = 8) -> float:
    """Wait for the first report; the seconds it took. Then no second."""
    started = time.monotonic()
    wait_for(lambda: count(api, guest) >= 1, timeout,
             what=f"a notification for {guest.name}")
    took = time.monotonic() - started
    time.sleep(quiet)
    assert count(api, guest) == 1, f"{guest.name} reported again"
    return took


def status(monitor, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("masakari-introspect-status")
    proc = subprocess.run(
        [str(script), "--config-file", str(monitor.conf_path), *args],
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def record(monitor, guest) -> dict:
    doc = json.loads(status(monitor, "--json").stdout)
    return next(i for i in doc["instances"] if i["uuid"] == guest.uuid)


# -- (a) maintenance: never reported, whatever the reason ---------------------------


def test_failures_in_maintenance_are_reported_once_it_ends(
        fleet, api, monitor, timings):
    panic, dog, disk = fleet["mnt-panic"], fleet["mnt-dog"], fleet["mnt-disk"]
    for guest in (panic, dog, disk):
        status(monitor, "maintenance", "on", guest.name)
    dog.watchdog_arm(2)
    disk.fill_disk()
    panic.control("panic")
    dog.watchdog_starve()
    disk.disk_start()
    panic.wait_state("crashed", timeout=30)
    dog.wait_state("paused", "watchdog", timeout=40)
    disk.wait_state("paused", "ioerror", timeout=60)
    for guest, reason in ((panic, "crashed"), (dog, "watchdog"),
                          (disk, "failure_pause")):
        monitor.wait_log(rf"\({guest.uuid}\) failed \({reason}\) while in "
                         r"maintenance: not reported", timeout=30)
    # Longer than a failure window, so that the failure pauses are due too.
    never_reported(api, panic, 2 * WINDOW)
    assert count(api, dog) == 0 and count(api, disk) == 0
    assert monitor.count(rf"INFO .*\({panic.uuid}\) failed \(crashed\) "
                         r"while in maintenance") == 1
    assert record(monitor, panic)["state"] == "maintenance"
    assert record(monitor, panic)["reason"] == "crashed"
    for guest in (panic, dog, disk):
        status(monitor, "maintenance", "off", guest.name)
    timings["crash held in maintenance"] = reported_once(api, panic, 10)
    reported_once(api, dog, 10, quiet=0)
    reported_once(api, disk, 10, quiet=0)
    log = monitor.log_text()
    assert f"({panic.uuid}) failed: crashed" in log
    assert f"({dog.uuid}) failed: watchdog" in log
    assert f"({disk.uuid}) failed: failure_pause" in log


# -- (b) a slow boot of a known guest -----------------------------------------------


def test_a_known_guest_booting_while_it_works_is_not_reported(
        fleet, api, monitor, timings):
    guest = fleet["slow-boot"]
    guest.set_agent_at_boot(False)
    mark = monitor.mark()
    guest.reboot_from_inside()
    monitor.wait_log(rf"\({guest.uuid}\): \w+ -> grace \(rebooted\)",
                     timeout=30, after=mark)
    guest.control("disk-start", timeout=60)     # as soon as it is up
    never_reported(api, guest, 3 * GRACE)
    log = monitor._log_from(mark)
    warnings = [line for line in log.splitlines()
                if guest.uuid in line and "agent silent, guest active" in line]
    assert len(warnings) == 1, warnings
    assert "is booting for" in warnings[0] and "disk requests" in warnings[0]
    assert record(monitor, guest)["state"] == "agent failed, guest active"
    guest.control("disk-stop")
    timings["slow boot, work stopped"] = reported_once(
        api, guest, WITHIN_A_WINDOW)
    assert f"({guest.uuid}) failed: boot_hang" in monitor.log_text()


# -- (c) a domain job keeps misses from counting -------------------------------------


class SlowReader(threading.Thread):
    """Drains a FIFO slowly until released, then at full speed."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.release = threading.Event()
        self.total = 0

    def run(self) -> None:
        with open(self.path, "rb", buffering=0) as fifo:
            while True:
                chunk = fifo.read(4096 if not self.release.is_set() else 1 << 20)
                if not chunk:
                    return
                self.total += len(chunk)
                if not self.release.is_set():
                    time.sleep(0.1)


def job_running(guest) -> bool:
    """``virsh domjobinfo``: an unbounded job (the dump) is running."""
    import libvirt
    return guest.dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_UNBOUNDED


def test_a_domain_job_shields_a_hung_agent_until_it_ends(
        fleet, api, monitor, tmp_path, timings):
    guest = fleet["job-dump"]
    fifo = tmp_path / "dump.fifo"
    os.mkfifo(fifo)
    reader = SlowReader(fifo)
    reader.start()
    dump = subprocess.Popen(
        ["virsh", "-c", "qemu:///system", "dump", "--live", guest.name,
         str(fifo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        wait_for(lambda: job_running(guest), 20, what="the dump job")
        guest.agent_ping()                       # the guest runs, answers
        guest.control("agent-hang")
        monitor.wait_log(rf"A domain job holds instance {guest.name} ",
                         timeout=20)
        held = time.monotonic()
        while time.monotonic() - held < 30:
            assert job_running(guest), "the dump ended early"
            assert count(api, guest) == 0
            time.sleep(0.5)
    finally:
        reader.release.set()
        output, _ = dump.communicate(timeout=120)
    assert dump.returncode == 0, output
    timings["after a domain job"] = reported_once(
        api, guest, AFTER_A_JOB, quiet=4)
    assert monitor.count(rf"domain job of instance {guest.name} "
                         r"\(\S+\) ended") == 1
    assert f"({guest.uuid}) failed: unresponsive" in monitor.log_text()


# -- (d) undefine is not a stop ----------------------------------------------------


def test_an_undefined_running_guest_stays_monitored(fleet, api, monitor):
    guest = fleet["undefined"]
    guest.dom.undefine()
    monitor.wait_log(rf"\({guest.uuid}\) lost its definition but still runs",
                     timeout=10)
    assert guest.is_running()
    guest.control("agent-hang")
    reported_once(api, guest, WITHIN_A_WINDOW + 5)
    assert f"No longer monitoring {guest.name}" not in monitor.log_text()
