"""The operator's view on the real bed: /metrics, the status command, the check,
maintenance and dry-run, against the installed console scripts.

One healthy and one hung guest; the tests run in order and share the guests,
masakari-api and the monitor (probe_interval 2, probe_timeout 1,
failure_threshold 3). The monitor watches every domain of the host's libvirtd,
so assertions are about these two guests, whatever else runs beside them.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.functional.conftest import HOSTNAME, wait_healthy, notifications_for, wait_for

GUESTS = {"op-healthy": {}, "op-hung": {}}
GRACE = 30
P = "masakari_introspect_"
# Other domains on a shared bed host may have no working agent; that is not
# what these tests look at.
CHECK = ("masakari-introspect-check", "--warning-no-agent", "none")
# Filled by the first test: how long a hang took to be reported.
DETECTION: dict[str, float] = {}


def console_script(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: pip install -e .")
    return found


def run(monitor, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [console_script(name), "--config-file", str(monitor.conf_path), *args],
        capture_output=True, text=True, timeout=60, check=False)
    print(f"$ {name} {' '.join(args)}  (exit {proc.returncode})\n"
          f"{proc.stdout}{proc.stderr}")
    return proc


def status_json(monitor) -> dict:
    proc = run(monitor, "masakari-introspect-status", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return {i["name"]: i for i in doc["instances"]} | {"": doc["service"]}


def scrape(monitor) -> dict:
    """{(name, (label, value)...): value} of one real scrape of /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(monitor.metrics_url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    print("\n".join(line for line in text.splitlines()
                    if line.startswith(P) and "_created" not in line
                    and "_bucket" not in line))
    return {(s.name,) + tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples}


def state_series(samples, uuid: str) -> dict[str, float]:
    return {dict(key[1:])["state"]: value for key, value in samples.items()
            if key[0] == P + "instance_state" and dict(key[1:])["uuid"] == uuid}


def others_in_trouble(monitor, fleet) -> bool:
    """Whether a domain not of this module is failing (and moves the check)."""
    ours = {guest.name for guest in fleet.values()}
    return any(record["state"] in ("failing", "failed")
               for name, record in status_json(monitor).items()
               if name and name not in ours)


def new_monitor(rundir: Path, api, **sections):
    from tests.bed.masakari import free_port
    from tests.bed.service import MonitorProcess
    port = free_port()
    options = {"introspection": {"boot_grace_period": GRACE},
               "metrics": {"listen": f"127.0.0.1:{port}"}}
    for section, values in sections.items():
        options.setdefault(section, {}).update(values)
    proc = MonitorProcess(rundir, endpoint=api.endpoint, host=HOSTNAME, options=options)
    proc.metrics_url = f"http://127.0.0.1:{port}/metrics"
    return proc


@pytest.fixture(scope="module")
def monitor(fleet, api, tmp_path_factory):
    with new_monitor(tmp_path_factory.mktemp("monitor"), api) as proc:
        wait_healthy(proc, fleet.values())
        yield proc


def test_hung_guest_is_failing_in_metrics_status_and_check(fleet, api, monitor):
    hung, healthy = fleet["op-hung"], fleet["op-healthy"]
    first = run(monitor, *CHECK)
    assert first.returncode == 0 or others_in_trouble(monitor, fleet)
    assert hung.name not in first.stdout
    started = time.monotonic()
    hung.control("agent-hang")
    wait_for(lambda: notifications_for(api, hung.uuid), 90,
             what=f"notification for {hung.name}")
    DETECTION["hang"] = time.monotonic() - started
    # The sender counts the delivery right after masakari-api answered.
    wait_for(lambda: scrape(monitor).get(
        (P + "notifications_total", ("result", "delivered"))) >= 1, 10,
        what="the delivery counted")

    samples = scrape(monitor)
    assert state_series(samples, hung.uuid) == {"failed": 1}
    assert state_series(samples, healthy.uuid) == {"healthy": 1}
    assert samples[(P + "instance_agent_up", ("uuid", hung.uuid))] == 0
    assert samples[(P + "instance_agent_up", ("uuid", healthy.uuid))] == 1
    assert samples[(P + "instance_consecutive_misses", ("uuid", hung.uuid))] >= 3
    assert samples[(P + "instance_consecutive_misses", ("uuid", healthy.uuid))] == 0
    assert samples[(P + "instance_last_success_age_seconds", ("uuid", healthy.uuid))] < 10
    assert samples[(P + "instance_info", ("name", hung.name), ("uuid", hung.uuid))] == 1
    assert (P + "instance_last_notification_timestamp_seconds",
            ("uuid", hung.uuid)) in samples
    assert sum(value for key, value in samples.items()
               if key[0] == P + "reports_total") >= 1
    assert samples[(P + "reports_total", ("reason", "unresponsive"))] + samples[
        (P + "reports_total", ("reason", "disconnected"))] >= 1
    # A failed call counts at once; a probe still out counts at the tick.
    assert samples[(P + "probes_total", ("outcome", "miss"))] >= 1
    assert samples[(P + "probes_total", ("outcome", "ok"))] >= 2
    assert samples[(P + "probe_duration_seconds_count",)] >= 5
    assert samples[(P + "libvirt_connected",)] == 1
    assert (P + "spool_depth",) in samples

    doc = status_json(monitor)
    assert doc[hung.name]["uuid"] == hung.uuid
    assert doc[hung.name]["state"] == "failed"
    assert doc[hung.name]["misses"] >= 3
    assert doc[hung.name]["last_notification"] is not None
    assert doc[healthy.name]["state"] == "healthy"
    assert doc[healthy.name]["misses"] == 0
    assert doc[healthy.name]["last_notification"] is None
    assert doc[""]["libvirt_connected"] is True
    assert doc[""]["host"] == HOSTNAME

    table = run(monitor, "masakari-introspect-status")
    assert table.returncode == 0
    assert re.match(rf"Service on {HOSTNAME} \(pid \d+\): libvirt connected, "
                    r"\d+ notification\(s\) pending\n", table.stdout)
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[3:]}
    assert hung.uuid in rows[hung.name]
    assert " failed " in rows[hung.name]
    assert " healthy " in rows[healthy.name]

    check = run(monitor, *CHECK)
    assert check.returncode == 2
    assert re.match(r"MASAKARI-INTROSPECT CRITICAL - (\d+) instances, (\d+) failing: "
                    rf"failing: (.*, )?{hung.name} \(failed\)", check.stdout)
    perfdata = dict(item.split("=") for item in check.stdout.split(" | ")[1].split())
    assert int(perfdata["instances"]) >= 2
    assert int(perfdata["failing"].split(";")[0]) >= 1
    assert perfdata["libvirt_connected"] == "1"


def test_maintenance_stops_the_notification_and_survives_a_restart(fleet, api, monitor):
    hung, healthy = fleet["op-hung"], fleet["op-healthy"]
    mark = monitor.mark()
    hung.heal()
    monitor.wait_log(rf"{hung.uuid}\) answers again", timeout=30, after=mark)
    assert len(notifications_for(api, hung.uuid)) == 1

    switch = run(monitor, "masakari-introspect-status", "maintenance", "on", hung.name)
    assert switch.returncode == 0
    assert switch.stdout == f"Instance {hung.uuid} is in maintenance\n"
    assert status_json(monitor)[hung.name]["state"] == "maintenance"

    # The switch is kept across a restart of the service.
    monitor.stop()
    monitor.start()
    wait_healthy(monitor, [healthy])
    doc = status_json(monitor)
    assert doc[hung.name]["maintenance"] is True
    assert doc[hung.name]["state"] == "maintenance"

    reports = monitor.count(rf"\({hung.uuid}\) failed: ")
    hung.control("agent-hang")
    time.sleep(max(20.0, 1.5 * DETECTION.get("hang", 20.0)))
    assert len(notifications_for(api, hung.uuid)) == 1
    assert monitor.count(rf"\({hung.uuid}\) failed: ") == reports

    samples = scrape(monitor)
    assert state_series(samples, hung.uuid) == {"maintenance": 1}
    assert state_series(samples, healthy.uuid) == {"healthy": 1}
    assert samples[(P + "instance_maintenance", ("uuid", hung.uuid))] == 1
    assert (P + "instance_agent_up", ("uuid", hung.uuid)) not in samples
    assert (P + "instance_last_notification_timestamp_seconds",
            ("uuid", hung.uuid)) not in samples
    check = run(monitor, *CHECK)
    assert hung.name not in check.stdout
    assert re.search(r" maintenance=[1-9]", check.stdout)
    if not others_in_trouble(monitor, fleet):
        assert check.returncode == 0
        assert re.match(r"MASAKARI-INTROSPECT OK - \d+ instances, 0 failing \| ",
                        check.stdout)

    # Back in: monitored again from a fresh grace period.
    hung.heal()
    mark = monitor.mark()
    switch = run(monitor, "masakari-introspect-status", "maintenance", "off", hung.uuid)
    assert switch.returncode == 0
    monitor.wait_log(rf"{hung.uuid}\): grace -> healthy", timeout=30, after=mark)
    assert status_json(monitor)[hung.name]["maintenance"] is False
    assert len(notifications_for(api, hung.uuid)) == 1


def test_status_and_check_when_the_service_is_down(monitor):
    monitor.stop()
    status = run(monitor, "masakari-introspect-status")
    assert status.returncode == 1
    assert "masakari-introspect is not running" in status.stderr
    check = run(monitor, *CHECK)
    assert check.returncode == 2
    assert check.stdout.startswith("MASAKARI-INTROSPECT CRITICAL - masakari-introspect "
                                   "is not running")


def test_dry_run_logs_the_body_and_sends_nothing(fleet, api, tmp_path):
    hung, healthy = fleet["op-hung"], fleet["op-healthy"]
    hung.heal()   # in case an earlier test left it hung
    before = len(notifications_for(api, hung.uuid))
    with new_monitor(tmp_path / "dry", api, DEFAULT={"dry_run": True}) as dry:
        wait_healthy(dry, fleet.values())
        hung.control("agent-hang")
        line = dry.wait_log(
            rf"WARNING \S+ \[-\] dry_run: not notifying Masakari about instance "
            rf"{hung.uuid}; would have sent POST /notifications (\{{.*\}})\n", timeout=90)
        body = json.loads(line.group(1))
        assert body["notification"]["type"] == "VM"
        assert body["notification"]["hostname"] == HOSTNAME
        assert body["notification"]["payload"] == {
            "event": "QEMU_GUEST_AGENT_ERROR", "instance_uuid": hung.uuid,
            "vir_domain_event": "STOPPED_FAILED"}
        time.sleep(4)  # a real sender would have posted within a second
        assert len(notifications_for(api, hung.uuid)) == before

        samples = scrape(dry)
        assert samples[(P + "notifications_total", ("result", "dry_run"))] >= 1
        assert samples[(P + "notifications_total", ("result", "delivered"))] == 0
        assert state_series(samples, hung.uuid) == {"failed": 1}
        assert state_series(samples, healthy.uuid) == {"healthy": 1}
        table = run(dry, "masakari-introspect-status")
        assert "DRY RUN (nothing is sent)" in table.stdout
        check = run(dry, *CHECK)
        assert check.returncode == 2
        assert re.search(r"failing: \S+op-hung \(failed\); dry run: nothing is sent",
                         check.stdout)
        hung.heal()
        assert "Traceback" not in dry.log_text()
