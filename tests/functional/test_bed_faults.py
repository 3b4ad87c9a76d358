"""Self-tests of the bed's fault mechanisms on real guests, without the monitor.

Each test proves that a fault the monitor's tests rely on does what libvirt
is supposed to see: the disk workload moves libvirt's block counters, a
panic with pvpanic is a CRASHED event, an unfed i6300esb pauses the domain,
a full disk with error_policy stop pauses it with reason ioerror, and so on.
One guest per device set, booted when a test first needs it.
"""
from __future__ import annotations

import time

import libvirt
import pytest

from tests.functional.conftest import booted_on_demand, wait_for

PREFIX = "mi-bed-"


@pytest.fixture(scope="module")
def guests(bed_image):
    """A factory of guests (one per role, defined and booted once), all removed at the end."""
    with booted_on_demand(bed_image, PREFIX) as guest:
        yield guest


def worker(guests):
    """A guest with a plain 16 MiB disk."""
    return guests("worker", disk_mib=16)


def wait_counter(read, key: str, above: int, timeout: float = 20) -> int:
    return wait_for(lambda: read()[key] if read()[key] > above else 0, timeout,
                    what=f"{key} above {above}")


def report(label: str, seconds: float) -> None:
    print(f"{label}: {seconds:.1f} s")


def test_disk_workload_moves_block_counters(guests):
    guest = worker(guests)
    idle = guest.block_stats()
    time.sleep(2)
    assert guest.block_stats()["wr_reqs"] == idle["wr_reqs"], "writes with no workload"
    guest.disk_start()
    wait_counter(guest.block_stats, "wr_reqs", idle["wr_reqs"] + 5)
    wait_counter(guest.block_stats, "rd_reqs", idle["rd_reqs"] + 5)
    guest.disk_stop()
    time.sleep(0.5)  # a write already under way finishes
    stopped = guest.block_stats()
    time.sleep(2)
    after = guest.block_stats()
    assert (after["wr_reqs"], after["rd_reqs"]) == (stopped["wr_reqs"], stopped["rd_reqs"])


def test_user_pause_and_agent_faults_have_their_states(guests):
    guest = worker(guests)
    guest.suspend()
    assert guest.state() == ("paused", "user")
    guest.resume()
    assert guest.state() == ("running", "unpaused")
    guest.control("agent-kill")
    guest.wait_agent_disconnected()
    guest.heal()
    guest.control("agent-hang")
    with pytest.raises(libvirt.libvirtError) as raised:
        guest.agent_ping(timeout=1)
    assert raised.value.get_error_code() == libvirt.VIR_ERR_AGENT_UNRESPONSIVE
    assert guest.state() == ("running", "unpaused")  # a hung agent is not a domain state
    guest.heal()


def test_agent_disabled_at_next_boot(guests, events):
    guest = worker(guests)
    guest.set_agent_at_boot(False)
    mark = time.monotonic()
    guest.reboot_from_inside()
    events.wait(guest.uuid, "agent", "disconnected", after=mark)
    guest.control("ping", timeout=60)  # /init is up again
    time.sleep(3)
    assert not [e for e in events.of(guest.uuid, "agent")
                if e.what == "connected" and e.at > mark]
    with pytest.raises(libvirt.libvirtError, match="not connected"):
        guest.agent_ping()
    assert "bed.noagent: qemu-ga not started" in guest.console_log()
    guest.set_agent_at_boot(True)
    guest.reboot_from_inside()
    guest.wait_agent(timeout=60)


def test_agent_disabled_at_next_start_without_a_disk(guests):
    guest = guests("plain")
    guest.set_agent_at_boot(False)
    guest.restart(wait=False)
    guest.control("ping", timeout=60)  # /init is up
    time.sleep(3)
    with pytest.raises(libvirt.libvirtError, match="not connected"):
        guest.agent_ping()
    assert "bed.noagent: qemu-ga not started" in guest.console_log()
    guest.set_agent_at_boot(True)
    guest.restart(timeout=60)


def test_another_client_holding_a_call_on_a_hung_agent(guests):
    guest = worker(guests)
    guest.control("agent-hang")
    with guest.hold_agent_call() as holder:
        time.sleep(1)
        assert holder.running
        started = time.monotonic()
        with pytest.raises(libvirt.libvirtError) as raised:
            guest.agent_ping(timeout=5)
        waited = time.monotonic() - started
        report("second caller fails after", waited)
        assert raised.value.get_error_code() == libvirt.VIR_ERR_OPERATION_TIMEOUT, raised.value
        assert "state change lock" in str(raised.value)
        guest.control("agent-resume")  # the held call gets its answer
        wait_for(lambda: not holder.running, 10, what="the holder's answer")
        assert '"return"' in holder.result()
    guest.wait_agent(timeout=30)


def test_poweroff_after_seconds_while_writing(guests):
    guest = worker(guests)
    guest.disk_start()
    started = time.monotonic()
    guest.poweroff_after(3)
    before = guest.block_stats()["wr_reqs"]
    wait_counter(guest.block_stats, "wr_reqs", before + 3, timeout=3)
    guest.wait_state("shutoff", "shutdown", timeout=30)
    took = time.monotonic() - started
    report("poweroff-after 3 -> shutoff", took)
    assert took >= 2.5
    guest.start()  # the workload does not survive a boot
    guest.wait_agent(timeout=60)


@pytest.mark.parametrize("on_crash, state", [
    ("preserve", ("crashed", "panicked")),
    ("destroy", ("shutoff", "crashed")),
])
def test_panic_with_pvpanic_is_a_crash(guests, events, on_crash, state):
    guest = guests(f"pvpanic-{on_crash}", pvpanic=True, on_crash=on_crash)
    mark = time.monotonic()
    guest.control("panic")
    event = events.wait(guest.uuid, "lifecycle", "crashed", "panicked", after=mark)
    report(f"panic -> crashed event ({on_crash})", event.at - mark)
    guest.wait_state(*state, timeout=10)


def test_unfed_watchdog_pauses_the_domain(guests, events):
    guest = guests("watchdog", watchdog="pause")
    guest.watchdog_arm(2)
    time.sleep(6)  # fed: nothing happens
    assert guest.state() == ("running", "booted")
    mark = time.monotonic()
    guest.watchdog_starve()
    event = events.wait(guest.uuid, "watchdog", "pause", after=mark, timeout=30)
    report("watchdog starved -> watchdog event", event.at - mark)
    guest.wait_state("paused", "watchdog", timeout=5)
    events.wait(guest.uuid, "lifecycle", "suspended", "watchdog", after=mark, timeout=5)


def test_full_disk_with_error_policy_stop_pauses_with_ioerror(guests, events):
    guest = guests("disk-full", disk_mib=16, disk_fs_mib=4, disk_error_policy="stop")
    guest.disk_start()
    wait_counter(guest.block_stats, "wr_reqs", guest.block_stats()["wr_reqs"] + 3)
    time.sleep(4)  # the ring (1 MiB) written over once: the workload itself needs no space
    assert guest.state() == ("running", "booted")
    mark = time.monotonic()
    guest.fill_disk()
    event = events.wait(guest.uuid, "io-error", "enospc", after=mark, timeout=30)
    report("disk filled -> io-error event", event.at - mark)
    guest.wait_state("paused", "ioerror", timeout=5)
    # Space back and resumed: the write is retried and the workload goes on.
    guest.unfill_disk()
    writes = guest.block_stats()["wr_reqs"]
    guest.resume()
    wait_counter(guest.block_stats, "wr_reqs", writes + 3)
    assert guest.state()[0] == "running"
    guest.disk_stop()


def test_nic_transmit_traffic(guests):
    guest = guests("nic", nic=True)
    idle = guest.interface_stats()["tx_packets"]
    guest.net_start()
    wait_counter(guest.interface_stats, "tx_packets", idle + 20, timeout=10)
    guest.net_stop()
    time.sleep(0.5)
    stopped = guest.interface_stats()["tx_packets"]
    time.sleep(2)
    assert guest.interface_stats()["tx_packets"] == stopped

