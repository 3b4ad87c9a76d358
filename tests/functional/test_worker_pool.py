"""libvirtd's worker pool (issue 17): the monitor keeps to its budget.

libvirtd runs with ``max_workers = 4`` for this module (set at run time with
``virt-admin server-threadpool-set``, restored afterwards) and the monitor is
told so: its budget is 2 agent calls at once, one per lane. One monitor
(probe_interval 2, probe_timeout 1, failure_threshold 3) watches 9 guests.
"""
from __future__ import annotations

import concurrent.futures
import datetime
import re
import subprocess
import threading
import time

import pytest

from tests.functional.conftest import (
    notifications_for,
    wait_for,
    watching,
)

INTERVAL, TIMEOUT, THRESHOLD = 2, 1, 3
WORKERS = 4
HEALTHY_BUDGET = 1                      # B = 2, the suspect lane takes 1
HUNG = [f"hung{i}" for i in range(6)]
HEALTHY = ["fine0", "fine1"]
GUESTS = {role: {} for role in HUNG + HEALTHY + ["held"]}
OBSERVED = 90                           # seconds after the mass hang
FOREIGN_LIMIT = 2.0                     # s, another client's agent call
GUEST_PING = '{"execute":"guest-ping"}'
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def threadpool() -> dict[str, int]:
    out = subprocess.run(
        ["virt-admin", "-c", "libvirtd:///system", "server-threadpool-info",
         "libvirtd"], check=True, capture_output=True, text=True).stdout
    return {key.strip(): int(value) for key, value in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def set_threadpool(min_workers: int, max_workers: int) -> None:
    subprocess.run(
        ["virt-admin", "-c", "libvirtd:///system", "server-threadpool-set",
         "libvirtd", "--min-workers", str(min_workers),
         "--max-workers", str(max_workers)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def small_pool(fleet):
    before = threadpool()
    set_threadpool(min(before["minWorkers"], WORKERS), WORKERS)
    try:
        assert threadpool()["maxWorkers"] == WORKERS
        yield
    finally:
        set_threadpool(before["minWorkers"], before["maxWorkers"])


@pytest.fixture(scope="module")
def monitor(fleet, small_pool, api, tmp_path_factory):
    with watching(fleet.values(), api, tmp_path_factory,
                  {"libvirt": {"max_workers": WORKERS}}) as proc:
        yield proc


class ForeignCalls:
    """Another client (as Nova would be): a timed guest-ping by virsh to a
    healthy guest, one after the other, alternating between guests."""

    def __init__(self, guests) -> None:
        self.guests = guests
        self.calls: list[tuple[str, float, int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            guest = self.guests[turn % len(self.guests)]
            turn += 1
            started = time.monotonic()
            done = subprocess.run(
                ["virsh", "-c", "qemu:///system", "qemu-agent-command",
                 guest.uuid, GUEST_PING, "--timeout", "5"],
                capture_output=True, text=True, check=False)
            self.calls.append((guest.name, time.monotonic() - started,
                               done.returncode, done.stderr.strip()))
            self._stop.wait(0.5)

    def __enter__(self) -> ForeignCalls:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def probe_gaps(log: str, uuid: str) -> list[float]:
    """Seconds between the monitor's consecutive answered probes of one
    guest, from its DEBUG lines (log time stamps)."""
    times = []
    pattern = re.compile(r"Probe \S+ \(%s\): ok " % re.escape(uuid))
    for line in log.splitlines():
        match = LOG_TIME.match(line)
        if match and pattern.search(line):
            times.append(datetime.datetime.strptime(
                match.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp())
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_the_budget_is_named_at_start(monitor):
    assert "Worker budget: 2 agent calls at once of libvirtd's 4 workers " \
        "(1 for guests that answer, 1 for guests that may be hung)" \
        in monitor.log_text()


def test_a_held_agent_call_is_reported_as_fast_as_a_plain_hang(
        fleet, api, monitor, timings):
    guest = fleet["held"]
    started = time.monotonic()
    guest.control("agent-hang")
    try:
        with guest.hold_agent_call(timeout=60):
            wait_for(lambda: notifications_for(api, guest.uuid), 30,
                     what=f"a notification for {guest.name}")
            elapsed = time.monotonic() - started
    finally:
        # The held call ends inside libvirtd only when the agent answers.
        guest.control("agent-resume")
    timings["held agent call, 4 workers"] = elapsed
    assert elapsed <= THRESHOLD * INTERVAL + TIMEOUT + 2
    assert len(notifications_for(api, guest.uuid)) == 1


def test_six_of_eight_hung_with_four_workers(fleet, api, monitor, timings):
    hung = [fleet[role] for role in HUNG]
    healthy = [fleet[role] for role in HEALTHY]
    offset = len(monitor.log_text())
    seen: dict[str, float] = {}
    with ForeignCalls(healthy) as foreign:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(len(hung)) as pool:
            list(pool.map(lambda guest: guest.control("agent-hang"), hung))

        def all_reported():
            for guest in hung:
                if guest.uuid not in seen and \
                        notifications_for(api, guest.uuid):
                    seen[guest.uuid] = time.monotonic() - started
            return len(seen) == len(hung)

        wait_for(all_reported, 60, what="a notification for each hung guest")
        while time.monotonic() - started < OBSERVED:
            for guest in healthy:
                assert notifications_for(api, guest.uuid) == [], guest.name
            time.sleep(1)
    worst = max(seen.values())
    timings["6 of 8 hung, 4 workers, worst"] = worst
    for guest in hung:
        assert len(notifications_for(api, guest.uuid)) == 1, guest.name
    for guest in healthy:
        assert notifications_for(api, guest.uuid) == [], guest.name
    # k x T / B_h + N x I + T + 5 s
    assert worst <= len(hung) * TIMEOUT / HEALTHY_BUDGET \
        + THRESHOLD * INTERVAL + TIMEOUT + 5, seen
    assert len(foreign.calls) >= OBSERVED / 3
    failed = [call for call in foreign.calls if call[2] != 0]
    assert failed == []
    slowest = max(call[1] for call in foreign.calls)
    timings["another client's agent call, slowest"] = slowest
    assert slowest <= FOREIGN_LIMIT, foreign.calls
    log = monitor.log_text()[offset:]
    for guest in healthy:
        gaps = probe_gaps(log, guest.uuid)
        assert len(gaps) >= OBSERVED / INTERVAL / 2, guest.name
        # I + k x T / B_h, and a second for the TCG guests.
        assert max(gaps) <= INTERVAL + len(hung) * TIMEOUT \
            / HEALTHY_BUDGET + 1, (guest.name, gaps)
