"""What the host sees of a guest's kernel: the balloon heartbeat and the vCPU run delay.

    stamp = last_update(guest)           # balloon.last-update, or None
    samples = watch_heartbeat(guest, 6)  # its age once a second
    with Starvation(guest):              # QEMU pinned to a CPU shared with busy loops
        ...

``balloon.last-update`` is QEMU's host wall clock (whole seconds) at the
guest's last statistics answer; it advances every balloon statistics period
while the guest's virtio_balloon driver answers (a kernel workqueue, no
userspace). ``vcpu.<n>.delay`` is how long the vCPU thread waited for a host
CPU (ns), ``vcpu.<n>.time`` how long it ran.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt

from tests.bed.guest import Guest, connection
from tests.bed.process import die_with_parent

log = logging.getLogger(__name__)

BUSY_LOOP = "while :; do :; done"


def domain_stats(guest: Guest, groups: int) -> dict[str, object]:
    """One getAllDomainStats-style record of the guest for those stats groups."""
    records = connection().domainListGetStats([guest.dom], groups)
    return dict(records[0][1]) if records else {}


def balloon_stats(guest: Guest) -> dict[str, object]:
    """The guest's balloon.* fields (without the prefix)."""
    stats = domain_stats(guest, libvirt.VIR_DOMAIN_STATS_BALLOON)
    return {k[len("balloon."):]: v for k, v in stats.items() if k.startswith("balloon.")}


def last_update(guest: Guest) -> int | None:
    """balloon.last-update (host wall clock, s), or None when libvirt gives none."""
    value = balloon_stats(guest).get("last-update")
    return int(value) if isinstance(value, int) else None


def last_updates(guests: list[Guest]) -> dict[str, int | None]:
    """balloon.last-update of several guests in one bulk call, by UUID."""
    records = connection().domainListGetStats([g.dom for g in guests],
                                              libvirt.VIR_DOMAIN_STATS_BALLOON)
    stamps: dict[str, int | None] = {g.uuid: None for g in guests}
    for dom, stats in records:
        value = stats.get("balloon.last-update")
        stamps[dom.UUIDString()] = int(value) if isinstance(value, int) else None
    return stamps


def heartbeat_age(guest: Guest) -> float | None:
    """Seconds since the guest's last statistics answer, or None without one."""
    stamp = last_update(guest)
    return None if not stamp else time.time() - stamp


@dataclass(frozen=True)
class HeartbeatSample:
    at: float  # time.monotonic()
    last_update: int | None
    age: float | None


def watch_heartbeat(guest: Guest, seconds: float, interval: float = 1.0) -> list[HeartbeatSample]:
    """Sample last-update every interval for that many seconds."""
    samples = []
    deadline = time.monotonic() + seconds
    while True:
        stamp = last_update(guest)
        age = None if not stamp else time.time() - stamp
        samples.append(HeartbeatSample(time.monotonic(), stamp, age))
        if time.monotonic() + interval > deadline:
            return samples
        time.sleep(interval)


def stamp_changes(samples: list[HeartbeatSample]) -> int:
    """How many times last-update changed between consecutive samples."""
    stamps = [s.last_update for s in samples]
    return sum(1 for a, b in zip(stamps, stamps[1:], strict=False) if a != b)


def vcpu_stats(guest: Guest, vcpu: int = 0) -> tuple[int, int]:
    """(time, delay) of one vCPU in ns: run time and time waiting for a host CPU."""
    stats = domain_stats(guest, libvirt.VIR_DOMAIN_STATS_VCPU)
    return int(stats[f"vcpu.{vcpu}.time"]), int(stats.get(f"vcpu.{vcpu}.delay", 0))


@dataclass(frozen=True)
class VcpuInterval:
    seconds: float  # monotonic length of the interval
    time: float  # vCPU run time in the interval, s
    delay: float  # vCPU wait for a host CPU in the interval, s

    @property
    def starved(self) -> bool:
        """Issue 19's rule: waited more than half the interval, ran less than a tenth."""
        return self.delay > self.seconds / 2 and self.time < self.seconds / 10


def measure_vcpu(guest: Guest, seconds: float, vcpu: int = 0) -> VcpuInterval:
    """vCPU run time and run delay over an interval of that many seconds."""
    started = time.monotonic()
    time0, delay0 = vcpu_stats(guest, vcpu)
    time.sleep(seconds)
    time1, delay1 = vcpu_stats(guest, vcpu)
    return VcpuInterval(time.monotonic() - started, (time1 - time0) / 1e9,
                        (delay1 - delay0) / 1e9)


def host_cpus() -> int:
    return os.cpu_count() or 1


def set_autogroup_nice(pid: int, nice: int) -> bool:
    """Give the autogroup (session) of pid that nice value; False where there is none.

    With autogroups on (kernel.sched_autogroup_enabled), a process's nice
    value only weighs against its own session: the scheduler weighs the
    busy loop's session (a nice 0 autogroup) against libvirt's machine cgroup
    (cpu.shares 1024) half and half, whatever the loop's own nice value.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        return True
    except OSError:
        return False


class Starvation:
    """Starve a guest of CPU: its vCPU threads (and QEMU's emulator threads) pinned,
    live, to one host CPU shared with busy loops at nice -19, each in a session
    whose autogroup is nice -19 too (no real-time priority: the host stays
    usable). stop() kills the loops and restores the pinning that the domain
    had before.

    Measured on an idle TCG guest: with one loop its vCPU waits 70 % of the
    time but still gets the little it needs (guest-pings answered); with six
    it waits all the time and guest-pings time out, while the balloon
    heartbeat stays within 2 s at period 1."""

    def __init__(self, guest: Guest, cpu: int | None = None, loops: int = 6,
                 nice: int = -19, emulator: bool = True) -> None:
        self.guest = guest
        self.cpu = host_cpus() - 1 if cpu is None else cpu
        self.loops = loops
        self.nice = nice
        self.emulator = emulator
        self.processes: list[subprocess.Popen[bytes]] = []
        self.saved_vcpus: list[tuple[bool, ...]] = []
        self.saved_emulator: tuple[bool, ...] | None = None

    def _cpumap(self) -> tuple[bool, ...]:
        return tuple(i == self.cpu for i in range(host_cpus()))

    def start(self) -> None:
        dom = self.guest.dom
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE
        self.saved_vcpus = [tuple(m) for m in dom.vcpuPinInfo(live)]
        for vcpu in range(len(self.saved_vcpus)):
            dom.pinVcpuFlags(vcpu, self._cpumap(), live)
        if self.emulator:
            self.saved_emulator = tuple(dom.emulatorPinInfo(live))
            dom.pinEmulator(self._cpumap(), live)
        for _ in range(self.loops):
            proc = subprocess.Popen(
                ["taskset", "-c", str(self.cpu), "nice", "-n", str(self.nice),
                 "sh", "-c", BUSY_LOOP],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent)
            self.processes.append(proc)
            if not set_autogroup_nice(proc.pid, self.nice):
                log.info("no autogroup for pid %d: its nice value alone applies", proc.pid)
        log.info("%s starved: pinned to CPU %d with %d busy loop(s) at nice %d",
                 self.guest.name, self.cpu, self.loops, self.nice)

    def stop(self) -> None:
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self.processes = []
        dom = self.guest.dom
        if not dom.isActive():
            return
        live = libvirt.VIR_DOMAIN_AFFECT_LIVE
        for vcpu, cpumap in enumerate(self.saved_vcpus):
            dom.pinVcpuFlags(vcpu, cpumap, live)
        if self.saved_emulator is not None:
            dom.pinEmulator(self.saved_emulator, live)
        log.info("%s no longer starved", self.guest.name)

    def __enter__(self) -> Starvation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
