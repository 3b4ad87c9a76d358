"""Local recovery without OpenStack (issue 11, part 5) on real guests.

Needs libvirtd: run under ``flock /work/libvirtd.lock``. No masakari-api:
``[recovery] driver = libvirt`` (reset, restart) or ``driver = command``.
"""
from __future__ import annotations

import sys
import time

import pytest

from tests.functional.conftest import HOSTNAME, boot_guests, wait_for

PREFIX = "local-"


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests):
    return boot_guests(bed_image, {PREFIX + "one": {}})


def local_monitor(rundir, recovery: dict):
    from tests.bed.service import MonitorProcess
    # The endpoint is never used: no Keystone option is needed here.
    proc = MonitorProcess(rundir, endpoint="http://127.0.0.1:9/v1", host=HOSTNAME,
                          options={"recovery": recovery})
    del proc.sections["masakari"]
    return proc


def wait_healthy(monitor, guest, after=None):
    monitor.wait_log(rf"{guest.uuid}\): \w+ -> healthy", timeout=120, after=after)


@pytest.mark.parametrize("action", ["reset", "restart"])
def test_libvirt_driver_recovers_a_hung_guest_once(fleet, tmp_path, action):
    guest = fleet[PREFIX + "one"]
    with local_monitor(tmp_path, {"driver": "libvirt", "libvirt_action": action}) as monitor:
        wait_healthy(monitor, guest)
        before = guest.dom.ID()
        guest.control("agent-hang")
        monitor.wait_log(rf"libvirt recovery recovered instance .*{guest.uuid}", timeout=90)
        monitor.wait_log(rf"{guest.uuid}\).*guest agent answered again", timeout=240)
        guest.wait_agent(timeout=60)
        if action == "restart":
            assert guest.dom.ID() != before
        else:
            assert guest.dom.ID() == before
        time.sleep(10)
        assert monitor.count(rf"libvirt recovery recovered instance .*{guest.uuid}") == 1
        assert "Traceback" not in monitor.log_text()


def hook_script(tmp_path, body: str) -> str:
    script = tmp_path / "hook.py"
    script.write_text(body)
    return f"{sys.executable},{script}"


def test_command_driver_env_retry_timeout_and_one_success(fleet, tmp_path):
    guest = fleet[PREFIX + "one"]
    runs = tmp_path / "runs.txt"
    # 1st run hangs (killed at the timeout), 2nd fails, 3rd succeeds.
    command = hook_script(tmp_path, f'''
import os, sys, time
with open({str(runs)!r}, "a") as f:
    f.write(" ".join(os.environ[n] for n in ("MI_INSTANCE_UUID", "MI_INSTANCE_NAME",
            "MI_REASON", "MI_HOST")) + "\\n")
n = len(open({str(runs)!r}).read().splitlines())
print("hook run", n, flush=True)
if n == 1:
    time.sleep(60)
sys.exit(1 if n == 2 else 0)
''')
    with local_monitor(tmp_path / "mon", {"driver": "command", "command": command,
                                          "command_timeout": 3}) as monitor:
        wait_healthy(monitor, guest)
        guest.control("agent-hang")
        monitor.wait_log(r"killed after 3 s", timeout=90)
        monitor.wait_log(r"exit status 1", timeout=60)
        monitor.wait_log(rf"Recovery command recovered instance .*{guest.uuid}", timeout=60)
        time.sleep(8)
        lines = runs.read_text().splitlines()
        assert len(lines) == 3
        assert all(line.split()[0] == guest.uuid and HOSTNAME in line.split()
                   for line in lines)
        assert monitor.count("exit status 0") == 1
        guest.heal()
        wait_for(lambda: monitor.count(rf"{guest.uuid}\) answers again"), 60,
                 what="the guest answering again")
