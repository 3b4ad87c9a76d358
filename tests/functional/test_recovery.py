"""Recovery you can trust, on real guests with the real masakari-api: the
storm limit, forensics, and the boot hang of a known guest."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.functional.conftest import (
    PREFIX,
    notifications_for,
    wait_for,
    watching,
)

MAX = 2
KEEP = 2


@pytest.fixture(scope="module")
def guests(bed_image, cleanup_guests):
    """'storm' has a screen (for the screenshot); 'known' has a disk, so its
    agent can be disabled at the next boot."""
    from tests.bed import guest as bed
    from tests.functional.conftest import boot_guests

    name = PREFIX + "storm"
    bed.remove_domain(name)
    root = ET.fromstring(bed.domain_xml(name, bed_image, agent_channel=True,
                                        agent_autostart=True, nova_socket_path=False,
                                        memory_mib=128))
    video = ET.SubElement(root.find("devices"), "video")
    ET.SubElement(video, "model", type="vga")
    dom = bed.connection().defineXML(ET.tostring(root, encoding="unicode"))
    storm = bed.Guest(name, dom.UUIDString())
    storm.start()
    others = boot_guests(bed_image, {"known": {"disk_mib": 16}})
    storm.wait_agent(timeout=180)
    yield {"storm": storm, **others}
    storm.undefine()


@pytest.fixture(scope="module")
def monitor(guests, api, tmp_path_factory):
    socket = tmp_path_factory.mktemp("status") / "status.sock"
    with watching(guests.values(), api, tmp_path_factory,
                  {"introspection": {"boot_grace_period": 10},
                   "recovery": {"max_recoveries": MAX, "window": 3600,
                                "forensics_keep": KEEP},
                   "status": {"socket_path": socket}}) as proc:
        yield proc


def command(monitor, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name(name)
    return subprocess.run([str(script), "--config-file", str(monitor.conf_path), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_guest_that_keeps_hanging_is_reported_max_recoveries_times(
        guests, api, monitor):
    guest = guests["storm"]
    for episode in range(1, MAX + 2):
        guest.control("agent-hang")
        if episode <= MAX:
            wait_for(lambda n=episode: len(notifications_for(api, guest.uuid)) >= n,
                     60, what=f"report {episode}")
        else:
            monitor.wait_log(rf"\({guest.uuid}\) failed \(\w+\), but it was "
                             r"reported 2 times.*recovery limit reached", timeout=60)
            time.sleep(6)
        assert len(notifications_for(api, guest.uuid)) == min(episode, MAX)
        if episode <= MAX:
            guest.control("agent-resume")
            monitor.wait_log(rf"\({guest.uuid}\) answers again", timeout=60)
    status = command(monitor, "masakari-introspect-status", "--json")
    assert status.returncode == 0, status.stderr
    [record] = [i for i in json.loads(status.stdout)["instances"]
                if i["uuid"] == guest.uuid]
    assert record["state"] == "recovery limit reached"
    check = command(monitor, "masakari-introspect-check")
    assert check.returncode == 2, check.stdout
    assert "recovery limit reached" in check.stdout
    guest.control("agent-resume")


def test_forensics_are_saved_and_kept_to_forensics_keep(guests, monitor):
    guest = guests["storm"]
    root = monitor.state_path / "forensics" / guest.uuid
    folders = wait_for(lambda: sorted(root.iterdir()) if root.exists() and
                       len(list(root.iterdir())) >= KEEP else None, 30,
                       what="forensics folders")
    assert len(folders) == KEEP
    newest = folders[-1]
    assert re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", newest.name)
    wait_for(lambda: any(newest.glob("screenshot.*")), 20, what="a screenshot")
    [shot] = list(newest.glob("screenshot.*"))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" or data[:2] == b"P6", data[:16]
    assert ET.parse(newest / "domain.xml").getroot().findtext("uuid") == guest.uuid
    verdict = json.loads((newest / "verdict.json").read_text())
    assert verdict["uuid"] == guest.uuid
    assert verdict["reason"] in ("unresponsive", "disconnected")
    probes = json.loads((newest / "probes.json").read_text())
    assert probes and any(p["outcome"] != "ok" for p in probes)
    assert isinstance(json.loads((newest / "stats.json").read_text()), dict)
    assert f"forensics in {root}" in monitor.log_text()


def test_a_known_guest_that_hangs_while_booting_is_reported_once(
        guests, api, monitor):
    guest = guests["known"]
    guest.set_agent_at_boot(False)
    guest.control("reboot")
    found = wait_for(lambda: notifications_for(api, guest.uuid), 90,
                     what="a boot-hang report")
    time.sleep(8)
    assert len(notifications_for(api, guest.uuid)) == len(found) == 1
    assert f"({guest.uuid}) failed: boot_hang" in monitor.log_text()
