"""Forensics on a real guest: LibvirtCapture and Recorder against libvirtd and QEMU.

One bed guest with a VGA device (the bed's guests have no screen; Nova's
always have one). The screenshot must be a readable image (libvirt 9 with QEMU 7.2 answers PNG;
older pairs PPM) and the domain XML
must name the domain; a QEMU that stops answering (SIGSTOP) must not hold
record() beyond its budget.
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import struct
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from tests.functional.conftest import PREFIX, wait_for

NAME = PREFIX + "forensics"
PATIENCE = 30.0


@pytest.fixture(scope="module")
def guest(bed_image, cleanup_guests):
    from tests.bed import guest as bed

    bed.remove_domain(NAME)
    root = ET.fromstring(bed.domain_xml(NAME, bed_image, agent_channel=True,
                                        agent_autostart=True, nova_socket_path=False,
                                        memory_mib=128))
    video = ET.SubElement(root.find("devices"), "video")
    ET.SubElement(video, "model", type="vga")
    dom = bed.connection().defineXML(ET.tostring(root, encoding="unicode"))
    vm = bed.Guest(NAME, dom.UUIDString())
    vm.start()
    vm.wait_agent(timeout=180)
    yield vm
    vm.undefine()


@pytest.fixture
def capture():
    from masakari_introspect.virt import host
    from masakari_introspect.virt.capture import LibvirtCapture
    from tests.bed.host import LIBVIRT_URI

    host.start_event_loop()       # as in the monitor
    capture = LibvirtCapture(LIBVIRT_URI)
    yield capture
    capture.close()


def ppm_size(data: bytes) -> tuple[int, int]:
    """Width and height of a binary PPM, checking that the pixels are all there."""
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        while data[position:position + 1].isspace():
            position += 1
        end = position
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maxval = fields
    assert magic == b"P6"
    assert int(maxval) == 255
    pixels = len(data) - position - 1          # one whitespace after maxval
    assert pixels == int(width) * int(height) * 3
    return int(width), int(height)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a non-interlaced PNG, checking CRCs and the pixel data."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, header, compressed = 8, b"", b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        position += 12 + length
        if kind == b"IEND":
            break
    width, height, depth, colour, _method, _filter, interlace = struct.unpack(">IIBBBBB", header)
    assert interlace == 0
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row = (width * channels * depth + 7) // 8
    assert len(zlib.decompress(compressed)) == height * (1 + row)
    return width, height


def image_size(folder: Path) -> tuple[str, int, int]:
    """(file name, width, height) of the one screenshot in folder."""
    (path,) = folder.glob("screenshot.*")
    data = path.read_bytes()
    width, height = png_size(data) if path.suffix == ".png" else ppm_size(data)
    return path.name, width, height


def qemu_pid(name: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())


def test_screenshot_and_xml_of_a_running_guest(guest, capture, tmp_path):
    from masakari_introspect.recovery.forensics import Recorder

    recorder = Recorder(tmp_path, 2, capture, budget=5.0)
    folder = recorder.record(guest.uuid, guest.name, "missed 3 guest-pings",
                             {"state": "running"}, [{"outcome": "miss"}],
                             datetime.datetime.now(datetime.timezone.utc))
    assert folder is not None
    verdict = json.loads((folder / "verdict.json").read_text())
    print(json.dumps(verdict, indent=2))
    assert verdict["capture"]["screenshot"].startswith("written: screenshot.")
    name, width, height = image_size(folder)
    print(f"{name} {width}x{height}, {(folder / name).stat().st_size} bytes")
    assert name in ("screenshot.ppm", "screenshot.png")
    assert width >= 320 and height >= 200
    domain = ET.parse(folder / "domain.xml").getroot()
    assert domain.findtext("name") == guest.name
    assert domain.findtext("uuid") == guest.uuid


def test_stopped_qemu_does_not_hold_the_record(guest, capture, tmp_path):
    from masakari_introspect.recovery.forensics import Recorder

    recorder = Recorder(tmp_path, 2, capture, budget=1.0, late=PATIENCE * 2)
    assert capture.domain_xml(guest.uuid)      # connection open before the stop
    pid = qemu_pid(guest.name)
    result: list = []
    finished = threading.Event()

    def run() -> None:
        result.append(recorder.record(
            guest.uuid, guest.name, "kernel hung", {}, [],
            datetime.datetime.now(datetime.timezone.utc)))
        finished.set()

    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        threading.Thread(target=run, daemon=True).start()
        assert finished.wait(PATIENCE), "record() waited for the stopped QEMU"
        print(f"record() returned after {time.monotonic() - started:.2f} s")
        folder = result[0]
        verdict = json.loads((folder / "verdict.json").read_text())
        assert verdict["capture"]["screenshot"].startswith("pending")
        assert not list(folder.glob("screenshot.*"))
    finally:
        os.kill(pid, signal.SIGCONT)
    # QEMU answers again: the late screenshot is written into the same folder.
    wait_for(lambda: list(folder.glob("screenshot.*")), PATIENCE,
             what="the late screenshot")
    image_size(folder)
    wait_for(lambda: json.loads((folder / "verdict.json").read_text())
             ["capture"]["screenshot"].startswith("written"), PATIENCE,
             what="the verdict to name the late screenshot")
