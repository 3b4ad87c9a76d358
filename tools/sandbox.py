"""The sandbox run by tools/sandbox: see the monitor catch a hung guest.

Prepares the bed, boots three guests, starts masakari-api and
masakari-introspect, hangs one guest's agent, and prints what happens.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bed import host, image
from tests.bed.guest import Guest, destroy_all
from tests.bed.masakari import MasakariAPI, ensure_venv
from tests.bed.service import MonitorProcess

HOSTNAME = "sandbox-compute"
PREFIX = "sandbox-"
ROLES = ("web", "db", "cache")
VICTIM = "db"
SHOWN = re.compile(r" (INFO|WARNING|ERROR) masakari_introspect[.\w]* (?:\[[^]]*\] )?(.*)")


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


class LogFollower(threading.Thread):
    """Prints the monitor's INFO and higher lines as they are written."""

    def __init__(self, monitor: MonitorProcess, started: float) -> None:
        super().__init__(daemon=True)
        self._monitor = monitor
        self._t0 = started
        self._halt = threading.Event()

    def run(self) -> None:
        offset = 0
        while not self._halt.wait(0.2):
            text = self._monitor.log_text()
            new, offset = text[offset:], len(text)
            for line in new.splitlines():
                match = SHOWN.search(line)
                if match:
                    print(f"   [monitor +{time.monotonic() - self._t0:5.1f}s] "
                          f"{match.group(1)}: {match.group(2)}", flush=True)

    def stop(self) -> None:
        self._halt.set()
        self.join(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true",
                        help="leave the guests running at the end")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()

    say("Preparing the host: packages, libvirtd, the guest image (first run: ~2 min)")
    host.prepare_host()
    bed = image.build_image()
    print(f"   kernel {bed.kernel.name}, initramfs {bed.initrd.name}")
    masakari_venv = ensure_venv()

    say(f"Booting {len(ROLES)} guests running the real qemu-ga")
    destroy_all(PREFIX)
    guests = {role: Guest.define(PREFIX + role, bed) for role in ROLES}
    for guest in guests.values():
        guest.start()
    for guest in guests.values():
        seconds = guest.wait_agent(timeout=180)
        print(f"   {guest.name:15s} {guest.uuid}  agent answers ({seconds:.1f} s)")

    work = Path(tempfile.mkdtemp(prefix="masakari-introspect-sandbox-"))
    try:
        with MasakariAPI(work / "masakari", HOSTNAME, venv=masakari_venv) as api:
            say(f"masakari-api listening on {api.endpoint}; host {HOSTNAME!r} "
                f"registered in segment {api.segment_name!r}")
            monitor = MonitorProcess(work / "monitor", endpoint=api.endpoint,
                                     host=HOSTNAME, debug=False)
            say("Starting masakari-introspect (probe_interval 2 s, probe_timeout 1 s, "
                "failure_threshold 3)")
            print(f"   config: {monitor.conf_path}")
            follower = LogFollower(monitor, time.monotonic())
            follower.start()
            with monitor:
                for guest in guests.values():
                    monitor.wait_log(rf"{guest.uuid}\): grace -> healthy", timeout=60)
                time.sleep(4)
                victim = guests[VICTIM]
                say(f"Hanging the guest agent of {victim.name} (SIGSTOP inside the guest)")
                fault = time.monotonic()
                victim.control("agent-hang")
                found = api.wait_notifications(1, timeout=90)
                detected = time.monotonic() - fault
                time.sleep(1)
                for item in found:
                    print(f"   masakari-api lists notification {item['notification_uuid']}:"
                          f" type {item['type']}, host {HOSTNAME}, "
                          f"event {item['payload']['event']}, "
                          f"instance {item['payload']['instance_uuid']}, "
                          f"status {item['status']}")
                say(f"Detected and accepted by Masakari {detected:.1f} s after the fault")
                say(f"Healing {victim.name} (SIGCONT): the monitor re-arms")
                victim.heal()
                monitor.wait_log(rf"{victim.uuid}\) answers again", timeout=30)
                time.sleep(1)
                others = [n for n in api.notifications()
                          if n["payload"]["instance_uuid"] != victim.uuid]
                say(f"Healthy guests reported: {len(others)}. Notifications in "
                    f"total: {len(api.notifications())}")
            follower.stop()
    finally:
        if not args.keep:
            say("Cleaning up the guests")
            destroy_all(PREFIX)
    print(f"\nsandbox finished in {time.monotonic() - started:.0f} s; "
          f"logs kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
