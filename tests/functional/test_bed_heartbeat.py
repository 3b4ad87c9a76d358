"""Self-tests of the bed's kernel-heartbeat mechanisms on real guests, without the monitor.

What issue 19's monitor tests rely on: the balloon's ``last-update`` advances
every statistics period while the guest kernel lives, whatever its userspace
does; it stops when the kernel panics or the driver goes; statistics can be
switched on live; *crash loaded* written from inside is libvirt's
CRASHED/crashloaded event; a guest pinned next to busy loops is starved
(``vcpu.0.delay`` grows, ``vcpu.0.time`` hardly). Guests are booted once, on
first use; each test takes seconds.
"""
from __future__ import annotations

import time
from pathlib import Path

import libvirt
import pytest

from tests.functional.conftest import booted_on_demand, wait_for

PREFIX = "mi-hb-"
WATCH = 6  # seconds of heartbeat samples per case


@pytest.fixture(scope="module")
def guests(bed_image):
    """A factory of guests (one per role, defined and booted once), all removed at the end."""
    with booted_on_demand(bed_image, PREFIX) as guest:
        yield guest


def balloon(guests):
    """The guest with a balloon, statistics every second, no pvpanic."""
    return guests("balloon", balloon_period=1)


def show(label: str, samples) -> None:
    ages = " ".join("-" if s.age is None else f"{s.age:.0f}" for s in samples)
    print(f"{label}: ages {ages}")


def assert_alive(guest, label: str) -> None:
    """last-update kept advancing and its age stayed below the monitor's
    stale bound (2 x period + 1 = 3 s). On a loaded host a guest's answers
    drift against the sampling second, so a stamp may be seen twice in a
    row (seen in CI: 69 69 71 71 72 74): the advance is counted in the
    stamp's own seconds, not in changes between samples."""
    from tests.bed.heartbeat import stamp_changes, watch_heartbeat
    samples = watch_heartbeat(guest, WATCH)
    show(label, samples)
    assert stamp_changes(samples) >= 2, samples
    assert samples[-1].last_update - samples[0].last_update >= WATCH - 3, \
        samples
    assert all(s.age is not None and s.age < 3 for s in samples), samples


def assert_stopped(guest, label: str) -> None:
    """last-update no longer moves: its age grows one second per second."""
    from tests.bed.heartbeat import stamp_changes, watch_heartbeat
    time.sleep(2)  # an answer already under way lands
    samples = watch_heartbeat(guest, WATCH)
    show(label, samples)
    assert stamp_changes(samples) == 0, samples
    assert samples[0].age is not None
    growth = samples[-1].age - samples[0].age
    elapsed = samples[-1].at - samples[0].at
    assert abs(growth - elapsed) < 1.5, (growth, elapsed)


def test_guest_without_a_balloon_boots_as_before(guests):
    from tests.bed.heartbeat import balloon_stats
    started = time.monotonic()
    guest = guests("plain")
    print(f"boot to first ping without a balloon: {time.monotonic() - started:.1f} s")
    assert "last-update" not in balloon_stats(guest)
    assert "insmod" not in guest.console_log()  # every module loaded, virtio_balloon too


def test_heartbeat_advances_every_second(guests):
    from tests.bed.heartbeat import balloon_stats
    started = time.monotonic()
    guest = balloon(guests)
    print(f"boot to first ping with a balloon: {time.monotonic() - started:.1f} s")
    print(f"balloon stats: {balloon_stats(guest)}")
    assert_alive(guest, "healthy")


def test_heartbeat_current_with_the_agent_stopped(guests):
    guest = balloon(guests)
    guest.control("agent-hang")
    try:
        with pytest.raises(libvirt.libvirtError):
            guest.agent_ping(timeout=1)
        assert_alive(guest, "agent SIGSTOP")
    finally:
        guest.heal()


def test_heartbeat_current_with_every_process_but_init_stopped(guests):
    guest = balloon(guests)
    guest.freeze_userspace(60)
    try:
        with pytest.raises(libvirt.libvirtError):
            guest.agent_ping(timeout=1)
        assert_alive(guest, "every process but init SIGSTOP")
        guest.control("ping")  # init still serves the control port
    finally:
        guest.thaw_userspace()
    guest.wait_agent(timeout=30)


def test_balloon_driver_removed_stops_the_heartbeat(guests):
    guest = balloon(guests)
    guest.balloon_unload()
    try:
        assert_stopped(guest, "virtio_balloon removed")
        guest.agent_ping()  # the rest of the guest is fine
    finally:
        guest.balloon_load()
    assert_alive(guest, "virtio_balloon loaded again")


def test_statistics_off_never_advance_until_a_period_is_set_live(guests):
    from tests.bed.heartbeat import last_update, stamp_changes, watch_heartbeat
    guest = guests("stats-off", balloon_period=0)
    samples = watch_heartbeat(guest, WATCH)
    show("statistics off", samples)
    assert stamp_changes(samples) == 0, samples
    print(f"last-update with statistics off: {last_update(guest)}")
    guest.set_balloon_period(2)
    samples = watch_heartbeat(guest, 8)
    show("period set to 2 live", samples)
    assert stamp_changes(samples) >= 3, samples
    # memoryStats() reads the same stamp (the two reads may straddle an update)
    assert abs(guest.dom.memoryStats()["last_update"] - (last_update(guest) or 0)) <= 2
    guest.set_balloon_period(0)


def test_crash_loaded_from_inside_is_an_event_and_the_guest_runs_on(guests, events):
    guest = guests("kdump", balloon_period=1, pvpanic=True, on_crash="destroy")
    mark = time.monotonic()
    guest.crash_loaded()
    event = events.wait(guest.uuid, "lifecycle", "crashed", "crashloaded", after=mark)
    print(f"crash loaded -> crashed/crashloaded event: {event.at - mark:.2f} s")
    time.sleep(2)
    assert guest.state()[0] == "running"
    guest.agent_ping()
    assert_alive(guest, "after crash loaded")
    assert not [e for e in events.of(guest.uuid, "lifecycle") if e.at >= mark
                and e.what in ("stopped", "shutdown", "suspended")]


def agent_misses(guest, tries: int = 3) -> int:
    """How many of that many guest-pings (2 s timeout) fail."""
    missed = 0
    for _ in range(tries):
        try:
            guest.agent_ping(timeout=2)
        except libvirt.libvirtError:
            missed += 1
    return missed


@pytest.mark.parametrize("loops", [1, 3, 6])
def test_starved_guest_waits_for_the_cpu(guests, loops):
    from tests.bed.heartbeat import Starvation, measure_vcpu, watch_heartbeat
    guest = balloon(guests)
    before = measure_vcpu(guest, 5)
    print(f"not starved, 5 s: vcpu time {before.time:.2f} s, delay {before.delay:.2f} s")
    assert not before.starved
    with Starvation(guest, loops=loops) as starvation:
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE
        print(f"pinned: vcpus {guest.dom.vcpuPinInfo(live)}, "
              f"emulator {guest.dom.emulatorPinInfo(live)}; loops' autogroups: "
              + ", ".join(Path(f"/proc/{p.pid}/autogroup").read_text().strip()
                          for p in starvation.processes))
        time.sleep(1)
        starved = measure_vcpu(guest, 10)
        print(f"starved ({loops} loops), {starved.seconds:.1f} s: vcpu time "
              f"{starved.time:.2f} s, delay {starved.delay:.2f} s")
        samples = watch_heartbeat(guest, WATCH)
        show(f"starved ({loops} loops)", samples)
        print(f"guest-pings missed while starved: {agent_misses(guest)} of 3")
    assert starved.starved, starved
    after = measure_vcpu(guest, 5)
    print(f"starvation over, 5 s: vcpu time {after.time:.2f} s, delay {after.delay:.2f} s")
    assert not after.starved
    guest.wait_agent(timeout=30)
    assert_alive(guest, "starvation over")


def test_kernel_panic_without_pvpanic_stops_the_heartbeat(guests, events):
    guest = balloon(guests)
    mark = time.monotonic()
    guest.panic_without_pvpanic()
    try:
        wait_for(lambda: "Kernel panic" in guest.console_log(), 10, what="the panic")
        assert_stopped(guest, "kernel panic, no pvpanic")
        assert guest.state()[0] == "running"
        assert not [e for e in events.of(guest.uuid, "lifecycle") if e.at >= mark]
    finally:
        guest.restart(timeout=120)
