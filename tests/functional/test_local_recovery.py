"""Local recovery without OpenStack (issue 11, part 5; issue 18) on real
guests.

Needs libvirtd: run under ``flock /tmp/masakari-bed.lock``. No masakari-api:
``[recovery] driver = libvirt`` (reset, restart) or ``driver = command``.
The libvirt driver acts on the domain's state: a crash shut off by
``on_crash=destroy`` is started, a pause by a full disk is destroyed and
started, a failed start is retried; the storm limit's hold survives a restart.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

import pytest

from tests.functional.conftest import HOSTNAME, boot_guests, wait_for

PREFIX = "local-"


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests):
    return boot_guests(bed_image, {
        PREFIX + "one": {},
        PREFIX + "two": {},
        PREFIX + "crash": {"pvpanic": True, "on_crash": "destroy"},
        PREFIX + "full": {"disk_mib": 16, "disk_fs_mib": 4,
                          "disk_error_policy": "stop"},
    })


def local_monitor(rundir, recovery: dict, retry: dict | None = None):
    from tests.bed.service import MonitorProcess
    # The endpoint is never used: no Keystone option is needed here.
    proc = MonitorProcess(rundir, endpoint="http://127.0.0.1:9/v1", host=HOSTNAME,
                          options={"recovery": recovery})
    del proc.sections["masakari"]
    if retry:
        proc.sections["masakari"] = dict(retry)
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


RECOVERED = r"libvirt recovery recovered instance .*{uuid}"


def recovered_once(monitor, guest, what: str) -> None:
    """The driver's one recovery of ``guest`` (its message matching
    ``what``), the guest running again and its agent answering."""
    uuid = guest.uuid
    monitor.wait_log(RECOVERED.format(uuid=uuid) + rf".*: {what}", timeout=120)
    monitor.wait_log(rf"{uuid}\).*guest agent answered again", timeout=240)
    guest.wait_agent(timeout=60)
    assert guest.state()[0] == "running"
    time.sleep(8)
    assert monitor.count(RECOVERED.format(uuid=uuid)) == 1
    assert "Traceback" not in monitor.log_text()


def test_a_crashed_guest_shut_off_by_on_crash_is_started(fleet, tmp_path):
    guest = fleet[PREFIX + "crash"]
    with local_monitor(tmp_path, {"driver": "libvirt"}) as monitor:
        wait_healthy(monitor, guest)
        guest.control("panic")
        monitor.wait_log(rf"\({guest.uuid}\) failed: crashed", timeout=60)
        # shut off by on_crash=destroy: started (or, if the sender came
        # first, destroyed and started from the crashed state)
        recovered_once(monitor, guest, r"(started \(it was shut off\)|"
                                       r"destroyed and started \(it was crashed\))")


def test_a_guest_paused_by_a_full_disk_is_destroyed_and_started(fleet, tmp_path):
    guest = fleet[PREFIX + "full"]
    with local_monitor(tmp_path, {"driver": "libvirt"}) as monitor:
        wait_healthy(monitor, guest)
        guest.disk_start()
        time.sleep(4)   # the workload's ring written over once
        guest.fill_disk()
        guest.wait_state("paused", "ioerror", timeout=30)
        guest.unfill_disk()
        monitor.wait_log(rf"\({guest.uuid}\) failed: failure_pause", timeout=60)
        recovered_once(monitor, guest, r"destroyed and started \(it was ioerror\)")


def test_a_restart_whose_start_fails_once_is_retried(fleet, tmp_path):
    guest = fleet[PREFIX + "full"]
    image = guest.disk_path()
    away = image.with_name(image.name + ".away")
    with local_monitor(tmp_path, {"driver": "libvirt",
                                  "libvirt_action": "restart"}) as monitor:
        wait_healthy(monitor, guest)
        image.rename(away)      # the running QEMU keeps its open file
        try:
            guest.control("agent-hang")
            monitor.wait_log(r"destroyed; start: .*starting it is retried",
                             timeout=90)
            assert guest.state()[0] == "shutoff"
        finally:
            away.rename(image)
        recovered_once(monitor, guest, r"started \(it was shut off\)")


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


def test_a_report_held_by_the_storm_limit_is_sent_after_a_restart(fleet, tmp_path):
    guest = fleet[PREFIX + "one"]
    window = 80
    recovered = RECOVERED.format(uuid=guest.uuid)
    with local_monitor(tmp_path, {"driver": "libvirt", "max_recoveries": 1,
                                  "window": window}) as monitor:
        wait_healthy(monitor, guest)
        guest.control("agent-hang")
        monitor.wait_log(recovered, timeout=90)
        first = time.monotonic()
        monitor.wait_log(rf"\({guest.uuid}\) answers again", timeout=240)
        guest.control("agent-hang")
        monitor.wait_log(rf"\({guest.uuid}\) failed \(\w+\), but it was reported "
                         r"1 times.*recovery limit reached", timeout=90)
        assert time.monotonic() - first < window - 15, "too slow to test the hold"
        assert monitor.count(recovered) == 1
        monitor.stop()
        mark = monitor.mark()
        monitor.start()
        monitor.wait_log(rf"\({guest.uuid}\): the recovery window allows a report "
                         r"again", timeout=window + 30, after=mark)
        monitor.wait_log(recovered, timeout=60, after=mark)
        monitor.wait_log(rf"{guest.uuid}\).*guest agent answered again",
                         timeout=240, after=mark)
        time.sleep(5)
        assert monitor.count(recovered) == 2
        assert "Traceback" not in monitor.log_text()


# A guest reported by the bed's settings (2 s interval, threshold 3) is
# reported within this many seconds of its hang.
FAILURE_WINDOW = 10


def test_a_hook_failing_for_one_guest_delays_no_other(fleet, tmp_path):
    """Issue 18: A's hook always fails (no Pacemaker resource for it); B
    hangs later and its hook runs within a failure window; A keeps backing
    off alone."""
    one, two = fleet[PREFIX + "one"], fleet[PREFIX + "two"]
    runs = tmp_path / "runs.txt"
    command = hook_script(tmp_path, f"""
import os, sys, time
uuid = os.environ["MI_INSTANCE_UUID"]
with open({str(runs)!r}, "a") as f:
    f.write("%s %.3f\\n" % (uuid, time.monotonic()))
sys.exit(1 if uuid == {one.uuid!r} else 0)
""")
    try:
        with local_monitor(tmp_path / "mon", {"driver": "command", "command": command},
                           retry={"retry_interval": 1,
                                  "retry_interval_max": 60}) as monitor:
            wait_healthy(monitor, one)
            wait_healthy(monitor, two)
            one.control("agent-hang")

            def runs_of(uuid):
                if not runs.exists():
                    return []
                return [float(line.split()[1]) for line in runs.read_text().splitlines()
                        if line.split()[0] == uuid]

            # six failures: A now waits 32 s, then 60 s, between attempts
            wait_for(lambda: len(runs_of(one.uuid)) >= 6, 120, what="A failing 6 times")
            hung = time.monotonic()
            two.control("agent-hang")
            wait_for(lambda: runs_of(two.uuid), FAILURE_WINDOW + 30,
                     what="B's hook")
            took = runs_of(two.uuid)[0] - hung
            assert took <= FAILURE_WINDOW + 2, f"B's hook ran {took:.1f} s after its hang"
            time.sleep(5)
            assert len(runs_of(two.uuid)) == 1
            a = runs_of(one.uuid)
            gaps = [later - earlier for earlier, later in zip(a, a[1:], strict=False)]
            assert max(gaps) >= 16, gaps   # A backs off, alone
            assert monitor.count(rf"Recovery command failed for instance {one.uuid}") == 1
            assert "Traceback" not in monitor.log_text()
    finally:
        one.heal()
        two.heal()


def test_a_hook_that_leaves_a_background_child_runs_once(fleet, tmp_path):
    """Issue 18: judged by its exit status, not by the end of its output."""
    guest = fleet[PREFIX + "one"]
    runs = tmp_path / "runs.txt"
    hook = tmp_path / "hook.sh"
    pidfile = tmp_path / "child.pid"
    hook.write_text(f"""#!/bin/sh
echo run >> {runs}
# a child that keeps the hook's stdout open for longer than the timeout
sleep 40 &
echo $! > {pidfile}
echo "restart requested"
exit 0
""")
    hook.chmod(0o755)
    try:
        with local_monitor(tmp_path / "mon", {"driver": "command", "command": str(hook),
                                              "command_timeout": 5}) as monitor:
            wait_healthy(monitor, guest)
            guest.control("agent-hang")
            monitor.wait_log(rf"Recovery command recovered instance .*{guest.uuid}",
                             timeout=60)
            time.sleep(12)       # past the timeout, and a retry, if any
            assert runs.read_text().splitlines() == ["run"]
            assert monitor.count("killed after") == 0
            assert monitor.count(r"exit status 0") == 1
    finally:
        guest.heal()
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
