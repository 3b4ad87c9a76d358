"""Per-instance policy on real guests (issue 20): the policy file by Nova's
flavor, the domain's own <policy> metadata set on a running guest, SIGHUP.

One monitor (probe_interval 2, probe_timeout 1, failure_threshold 3) with a
policy file: flavor scratch.* is not monitored, flavor ha.* has a
failure_threshold of 2. Three tiny guests with Nova-like metadata, booted
once for the module.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.bed.service import console_script
from tests.functional.conftest import (
    HOSTNAME,
    boot_guests,
    masakari_api,
    notifications_for,
    wait_for,
)

GUESTS = {
    "scratch": {"flavor": "scratch.tiny"},
    "strict": {"flavor": "ha.small"},
    "meta": {},   # no Nova metadata: its own <policy> only
}
POLICY = """\
rules:
  - match: {flavor: "scratch.*"}
    monitor: false
  - match: {flavor: "ha.*", project: "3f0c*"}
    failure_threshold: 2
"""
NAMESPACE = "http://openstack.org/xmlns/masakari-introspect/policy/1.0"
QUIET = 12   # seconds (six intervals) after which no report means none came


@pytest.fixture(scope="module")
def fleet(bed_image, cleanup_guests):
    return boot_guests(bed_image, GUESTS)


@pytest.fixture(scope="module")
def api(masakari_venv, tmp_path_factory):
    with masakari_api(masakari_venv, tmp_path_factory) as api:
        yield api


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture(scope="module")
def monitor(fleet, api, policy_file, tmp_path_factory):
    from tests.bed.service import MonitorProcess
    rundir = tmp_path_factory.mktemp("monitor")
    proc = MonitorProcess(rundir, endpoint=api.endpoint, host=HOSTNAME, options={
        "introspection": {"policy_file": policy_file},
        "status": {"socket_path": rundir / "status.sock"}})
    with proc:
        for role in ("strict", "meta"):
            proc.wait_log(rf"{fleet[role].uuid}\): grace -> healthy", timeout=90)
        yield proc


def status(monitor) -> dict[str, dict]:
    script = Path(console_script()[0]).with_name("masakari-introspect-status")
    proc = subprocess.run([str(script), "--socket", str(monitor.rundir / "status.sock"),
                           "--json"], capture_output=True, text=True, timeout=30,
                          check=True)
    return {i["name"]: i for i in json.loads(proc.stdout)["instances"]}


def never_reported(api, guest, seconds: float = QUIET) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert notifications_for(api, guest.uuid) == [], guest.name
        time.sleep(0.5)


def test_status_shows_the_rule_of_each_guest(fleet, monitor):
    found = status(monitor)
    scratch, strict, meta = (found[fleet[r].name] for r in ("scratch", "strict", "meta"))
    assert scratch["rule"] == "rule 1 (flavor=scratch.*)"
    assert scratch["monitored"] is False
    assert scratch["state"] == "not monitored (policy)"
    assert scratch["maintenance"] is False
    assert strict["rule"] == "rule 2 (flavor=ha.*, project=3f0c*)"
    assert strict["monitored"] is True
    assert meta["rule"] is None


def test_a_guest_not_monitored_by_flavor_is_not_reported_when_its_agent_hangs(
        fleet, api, monitor):
    guest = fleet["scratch"]
    guest.control("agent-hang")
    never_reported(api, guest)
    guest.heal()
    # Not the operator's maintenance: nothing of it is persisted.
    saved = json.loads((monitor.state_path / "instances.json").read_text())
    assert saved["maintenance"] == []


def test_a_failure_threshold_of_2_by_flavor_reports_after_2_missed_intervals(
        fleet, api, monitor):
    guest = fleet["strict"]
    guest.control("agent-hang")
    wait_for(lambda: notifications_for(api, guest.uuid), 60,
             what=f"a notification for {guest.name}")
    entry = status(monitor)[guest.name]
    assert entry["state"] == "failed"
    assert entry["misses"] == 2     # the configuration's threshold is 3
    guest.heal()
    monitor.wait_log(rf"{guest.uuid}\) answers again", timeout=30)


def test_policy_metadata_set_on_a_running_guest_applies_without_restart(
        fleet, api, monitor):
    guest = fleet["meta"]
    mark = monitor.mark()
    guest.set_metadata(NAMESPACE, "mi", '<policy monitor="false"/>')
    monitor.wait_log(rf"{guest.uuid}\) follows domain metadata now .*not monitored",
                     timeout=15, after=mark)
    assert status(monitor)[guest.name]["monitored"] is False
    guest.control("agent-hang")
    never_reported(api, guest)
    guest.heal()
    mark = monitor.mark()
    guest.set_metadata(NAMESPACE, "mi", None)      # removed: monitored again
    monitor.wait_log(rf"{guest.uuid}\) follows the configuration now", timeout=15,
                     after=mark)
    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=30, after=mark)
    guest.control("agent-hang")
    wait_for(lambda: notifications_for(api, guest.uuid), 60,
             what=f"a notification for {guest.name}")
    guest.heal()


def test_a_bad_metadata_value_is_one_warning_and_ignored(fleet, monitor):
    guest = fleet["meta"]
    mark = monitor.mark()
    guest.set_metadata(NAMESPACE, "mi", '<policy failure_threshold="0" monitor="maybe"/>')
    monitor.wait_log(rf"{guest.uuid}\): ignored in its metadata: domain metadata: "
                     r"monitor: must be true or false", timeout=15, after=mark)
    time.sleep(3)
    warnings = monitor.count(rf"WARNING .*{guest.uuid}\): ignored in its metadata")
    assert warnings == 2        # failure_threshold, monitor: one each, once
    assert status(monitor)[guest.name]["monitored"] is True
    guest.set_metadata(NAMESPACE, "mi", None)


def test_a_broken_policy_file_on_sighup_keeps_the_running_policy(
        fleet, monitor, policy_file):
    mark = monitor.mark()
    policy_file.write_text("rules:\n  - match: {flavor: 'scratch.*'}\n    monitr: false\n")
    os.kill(monitor.pid, signal.SIGHUP)
    monitor.wait_log(r"ERROR .*Policy file not reloaded on SIGHUP, the running policy is "
                     r"kept: .*rule 1 \(flavor=scratch\.\*\): unknown key 'monitr'",
                     timeout=15, after=mark)
    time.sleep(2)
    assert monitor.count(r"ERROR .*Policy file not reloaded") == 1
    assert status(monitor)[fleet["scratch"].name]["monitored"] is False
    # A good file again: applied on the next SIGHUP.
    mark = monitor.mark()
    policy_file.write_text(POLICY.replace("monitor: false", "failure_threshold: 5"))
    os.kill(monitor.pid, signal.SIGHUP)
    monitor.wait_log(r"Policy file .* reloaded on SIGHUP: 2 rule\(s\)", timeout=15,
                     after=mark)
    wait_for(lambda: status(monitor)[fleet["scratch"].name]["monitored"], 10,
             what="the scratch guest monitored again")
    assert "Traceback" not in monitor.log_text()
