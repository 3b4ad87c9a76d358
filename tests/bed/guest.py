"""One test-bed guest: a persistent libvirt domain (TCG) running the real qemu-ga.

Faults are injected from inside the guest through a second virtio-serial port
(``org.example.ctl.0``, a unix socket on the host): see ``Guest.control``.
Optional devices (all off by default): a virtio disk with a workload that
reads and writes it, a NIC with transmit traffic, a pvpanic device, an
i6300esb watchdog and a virtio balloon with memory statistics (the kernel
heartbeat, read with tests.bed.heartbeat); see ``Guest.define``.
"""
from __future__ import annotations

import logging
import shutil
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import libvirt_qemu

from tests.bed import disk
from tests.bed.host import LIBVIRT_URI, cache_dir
from tests.bed.image import GuestImage
from tests.bed.process import GroupProcess

log = logging.getLogger(__name__)

AGENT_PORT = "org.qemu.guest_agent.0"
CONTROL_PORT = "org.example.ctl.0"
BED_MARK = "masakari-introspect test bed guest"
QEMU_DIR = Path("/var/lib/libvirt/qemu")
# no_timer_check: under TCG on a loaded host the boot-time IO-APIC timer
# check can miss its window and panic the guest ("IO-APIC + timer doesn't work").
CMDLINE = "console=ttyS0 panic=0 quiet no_timer_check"
NO_AGENT_FLAG = "bed.noagent"
GUEST_PING = '{"execute":"guest-ping"}'
CONTROL_COMMANDS = (
    "ping", "agent-stop", "agent-kill", "agent-hang", "agent-resume", "agent-start",
    "panic", "reboot", "poweroff", "poweroff-after",
    "disk-start", "disk-stop", "net-start", "net-stop",
    "watchdog-arm", "watchdog-starve", "watchdog-disarm",
    "freeze-userspace", "thaw-userspace", "crash-loaded", "balloon-unload", "balloon-load",
    "app-up", "app-down", "agent-restart-blocking", "procs-between",
)
DISK_TARGET = "vda"
ON_CRASH_ACTIONS = ("destroy", "restart", "preserve", "rename-restart",
                    "coredump-destroy", "coredump-restart")
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")
DISK_ERROR_POLICIES = ("stop", "report", "ignore", "enospace")
RESEND_INTERVAL = 1.0
NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/1.1"
BED_PROJECT = "3f0c6a5e2b7d4c1e9a8f0b1c2d3e4f50"

libvirt.registerErrorHandler(lambda *_args: None, None)
_connection: libvirt.virConnect | None = None


def connection() -> libvirt.virConnect:
    """The module's qemu:///system connection, reopened if libvirtd went away."""
    global _connection
    if _connection is not None:
        try:
            _connection.getLibVersion()
            return _connection
        except libvirt.libvirtError:
            log.info("libvirt connection lost, reconnecting")
            close_quietly(_connection)
    _connection = libvirt.open(LIBVIRT_URI)
    return _connection


def close_quietly(conn: libvirt.virConnect) -> None:
    try:
        conn.close()
    except libvirt.libvirtError:
        pass


def nova_agent_socket(name: str) -> Path:
    """Where Nova puts a guest's agent socket."""
    return QEMU_DIR / f"{AGENT_PORT}.{name}.sock"


def control_socket(name: str) -> Path:
    return QEMU_DIR / f"bed-ctl.{name}.sock"


def guest_dir(name: str) -> Path:
    path = cache_dir() / "guests" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- domain XML ------------------------------------------------------------------


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def add_channel(devices: ET.Element, target: str, path: Path | None) -> None:
    channel = sub(devices, "channel", type="unix")
    if path is None:
        sub(channel, "source", mode="bind")
    else:
        sub(channel, "source", mode="bind", path=str(path))
    sub(channel, "target", type="virtio", name=target)


def add_disk(devices: ET.Element, path: Path, error_policy: str | None) -> None:
    element = sub(devices, "disk", type="file", device="disk")
    driver = {"name": "qemu", "type": "raw"}
    if error_policy is not None:
        driver["error_policy"] = error_policy
    sub(element, "driver", **driver)
    sub(element, "source", file=str(path))
    sub(element, "target", dev=DISK_TARGET, bus="virtio")


def add_nic(devices: ET.Element) -> None:
    """A virtio NIC on a tap of its own (no bridge): host-side counters, no network."""
    interface = sub(devices, "interface", type="ethernet")
    sub(interface, "model", type="virtio")


def add_nova_metadata(domain: ET.Element, name: str, flavor: str) -> None:
    """Nova's instance metadata (namespace 1.1), as Nova writes it: the display
    name (the domain name with "-display"), the flavor's name, the owner."""
    instance = ET.SubElement(sub(domain, "metadata"), f"{{{NOVA_NS}}}instance")
    sub(instance, f"{{{NOVA_NS}}}name", f"{name}-display")
    sub(instance, f"{{{NOVA_NS}}}flavor", name=flavor)
    owner = sub(instance, f"{{{NOVA_NS}}}owner")
    sub(owner, f"{{{NOVA_NS}}}user", "admin", uuid="0" * 32)
    sub(owner, f"{{{NOVA_NS}}}project", "admin", uuid=BED_PROJECT)


def domain_xml(name: str, image: GuestImage, *, agent_channel: bool, agent_autostart: bool,
               nova_socket_path: bool, memory_mib: int, disk_path: Path | None = None,
               disk_error_policy: str | None = None, nic: bool = False,
               pvpanic: bool = False, on_crash: str = "destroy",
               watchdog: str | None = None, balloon_period: int | None = None,
               flavor: str | None = None) -> str:
    domain = ET.Element("domain", type="qemu")
    sub(domain, "name", name)
    sub(domain, "description", BED_MARK)
    if flavor is not None:
        add_nova_metadata(domain, name, flavor)
    sub(domain, "memory", str(memory_mib), unit="MiB")
    sub(domain, "vcpu", "1")
    os_ = sub(domain, "os")
    sub(os_, "type", "hvm", arch="x86_64", machine="pc")
    sub(os_, "kernel", str(image.kernel))
    sub(os_, "initrd", str(image.initrd))
    sub(os_, "cmdline", CMDLINE if agent_autostart else f"{CMDLINE} {NO_AGENT_FLAG}")
    sub(sub(domain, "features"), "acpi")
    sub(domain, "clock", offset="utc")
    sub(domain, "on_poweroff", "destroy")
    sub(domain, "on_reboot", "restart")
    sub(domain, "on_crash", on_crash)
    devices = sub(domain, "devices")
    sub(devices, "controller", type="virtio-serial", index="0")
    sub(devices, "controller", type="usb", model="none")
    if agent_channel:
        add_channel(devices, AGENT_PORT, nova_agent_socket(name) if nova_socket_path else None)
    add_channel(devices, CONTROL_PORT, control_socket(name))
    if disk_path is not None:
        add_disk(devices, disk_path, disk_error_policy)
    if nic:
        add_nic(devices)
    if pvpanic:
        sub(devices, "panic", model="isa")
    if watchdog is not None:
        sub(devices, "watchdog", model="i6300esb", action=watchdog)
    serial = sub(devices, "serial", type="file")
    sub(serial, "source", path=str(guest_dir(name) / "console.log"))
    sub(serial, "target", port="0")
    add_balloon(devices, balloon_period)
    return ET.tostring(domain, encoding="unicode")


def add_balloon(devices: ET.Element, period: int | None) -> None:
    """No balloon (None), or a virtio balloon with statistics every period s (0: off)."""
    if period is None:
        sub(devices, "memballoon", model="none")
        return
    balloon = sub(devices, "memballoon", model="virtio")
    sub(balloon, "stats", period=str(period))


def is_bed_domain(dom: libvirt.virDomain) -> bool:
    try:
        return dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None, 0) == BED_MARK
    except libvirt.libvirtError:
        return False


# --- the guest ---------------------------------------------------------------------


class Guest:
    """A persistent test-bed domain, looked up by UUID on every use (survives libvirtd restarts)."""

    def __init__(self, name: str, uuid: str) -> None:
        self.name = name
        self.uuid = uuid

    def __repr__(self) -> str:
        return f"Guest({self.name!r}, {self.uuid!r})"

    # construction

    @classmethod
    def define(cls, name: str, image: GuestImage, *, agent_channel: bool = True,
               agent_autostart: bool = True, nova_socket_path: bool = False,
               memory_mib: int = 128, disk_mib: int = 0, disk_fs_mib: int | None = None,
               disk_error_policy: str | None = None, nic: bool = False,
               pvpanic: bool = False, on_crash: str = "destroy",
               watchdog: str | None = None, balloon_period: int | None = None,
               flavor: str | None = None) -> Guest:
        """Define (not start) a persistent domain, replacing any domain of that name.

        disk_mib: a virtio disk (vda) of that size, a sparse raw image (0: none).
        disk_fs_mib: put the image on a tmpfs of its own of that size, so that
            ``fill_disk()`` can make the guest's writes fail with ENOSPC.
        disk_error_policy: the disk driver's error_policy (stop, report,
            ignore, enospace); None leaves QEMU's default (stop on ENOSPC only).
        nic: a virtio NIC on a host tap with no network behind it.
        pvpanic: an ISA pvpanic device: a kernel panic becomes libvirt's
            CRASHED event, then on_crash (destroy, restart, preserve...) applies.
        watchdog: an i6300esb watchdog with that action (pause, reset,
            poweroff, shutdown, none, inject-nmi, dump); None: no watchdog.
        balloon_period: a virtio balloon whose memory statistics QEMU asks
            for every that many seconds (0: statistics off); None: no balloon.
        flavor: Nova-like metadata (namespace 1.1) with this flavor name, the
            display name "<name>-display" and the project BED_PROJECT.
        """
        if on_crash not in ON_CRASH_ACTIONS:
            raise ValueError(f"on_crash must be one of {ON_CRASH_ACTIONS}, not {on_crash!r}")
        if watchdog is not None and watchdog not in WATCHDOG_ACTIONS:
            raise ValueError(f"watchdog must be one of {WATCHDOG_ACTIONS}, not {watchdog!r}")
        if disk_error_policy is not None and disk_error_policy not in DISK_ERROR_POLICIES:
            raise ValueError(f"disk_error_policy must be one of {DISK_ERROR_POLICIES}")
        if balloon_period is not None and balloon_period < 0:
            raise ValueError(f"balloon_period must be >= 0, not {balloon_period}")
        if (disk_fs_mib or disk_error_policy) and not disk_mib:
            raise ValueError("disk_fs_mib and disk_error_policy need disk_mib")
        remove_domain(name)
        disk_path = create_disk(name, disk_mib, disk_fs_mib) if disk_mib else None
        xml = domain_xml(name, image, agent_channel=agent_channel,
                         agent_autostart=agent_autostart, nova_socket_path=nova_socket_path,
                         memory_mib=memory_mib, disk_path=disk_path,
                         disk_error_policy=disk_error_policy, nic=nic, pvpanic=pvpanic,
                         on_crash=on_crash, watchdog=watchdog,
                         balloon_period=balloon_period, flavor=flavor)
        dom = connection().defineXML(xml)
        log.info("defined %s (%s)", name, dom.UUIDString())
        return cls(name, dom.UUIDString())

    @classmethod
    def lookup(cls, name: str) -> Guest:
        dom = connection().lookupByName(name)
        return cls(name, dom.UUIDString())

    @property
    def dom(self) -> libvirt.virDomain:
        """A fresh handle on the current connection."""
        return connection().lookupByUUIDString(self.uuid)

    # lifecycle

    def start(self) -> None:
        """Start the domain; the console log starts empty (QEMU appends to it)."""
        (guest_dir(self.name) / "console.log").write_bytes(b"")
        self.dom.create()

    def destroy(self) -> None:
        dom = self.dom
        if dom.isActive():
            dom.destroy()

    def undefine(self) -> None:
        """Destroy (if running) and undefine; also removes the guest's console log."""
        dom = self.dom
        if dom.isActive():
            dom.destroy()
        try:
            dom.undefine()
        except libvirt.libvirtError as error:
            if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # transient: gone already
                raise
        disk.unmount(disk.fs_dir(self.name))
        shutil.rmtree(guest_dir(self.name), ignore_errors=True)

    def suspend(self) -> None:
        self.dom.suspend()

    def resume(self) -> None:
        self.dom.resume()

    def restart(self, wait: bool = True, timeout: float = 60) -> None:
        """Destroy and start again (the way out of a panic); optionally wait for the agent."""
        self.destroy()
        self.start()
        if wait:
            self.wait_agent(timeout)

    def reboot_from_inside(self) -> None:
        """Reboot the guest's kernel (reboot -f): the domain stays up, the agent reconnects."""
        self.control("reboot")

    def is_running(self) -> bool:
        return self.dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING

    def state(self) -> tuple[str, str]:
        """State and reason as ``virsh domstate --reason`` has them, in libvirt's
        constant names: ("paused", "ioerror"), ("crashed", "panicked"), ("shutoff",
        "destroyed")..."""
        return state_names(*self.dom.state())

    def wait_state(self, state: str, reason: str | None = None, timeout: float = 30) -> float:
        """Wait until the domain is in state (and reason); return the seconds it took."""
        started = time.monotonic()
        while True:
            current = self.state()
            if current[0] == state and reason in (None, current[1]):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"{self.name}: still {current} after {timeout} s, not {state}/{reason};"
                    f" console:\n{self.console_tail()}")
            time.sleep(0.05)

    # optional devices

    def disk_path(self) -> Path:
        """Host path of the guest's disk image (from the persistent XML)."""
        root = ET.fromstring(self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        for element in root.iterfind("devices/disk"):
            target = element.find("target")
            if target is not None and target.get("dev") == DISK_TARGET:
                return Path(element.find("source").get("file"))
        raise RuntimeError(f"{self.name} has no disk: define it with disk_mib")

    def block_stats(self) -> dict[str, int]:
        """libvirt's counters for the disk: rd_reqs, rd_bytes, wr_reqs, wr_bytes, errs."""
        values = self.dom.blockStats(DISK_TARGET)
        names = ("rd_reqs", "rd_bytes", "wr_reqs", "wr_bytes", "errs")
        return dict(zip(names, values, strict=True))

    def interface_stats(self) -> dict[str, int]:
        """libvirt's counters for the NIC, from the guest's side (tx: sent by the guest)."""
        root = ET.fromstring(self.dom.XMLDesc(0))
        target = root.find("devices/interface/target")
        if target is None:
            raise RuntimeError(f"{self.name} has no running NIC: define it with nic=True")
        values = self.dom.interfaceStats(target.get("dev"))
        names = ("rx_bytes", "rx_packets", "rx_errs", "rx_drop",
                 "tx_bytes", "tx_packets", "tx_errs", "tx_drop")
        return dict(zip(names, values, strict=True))

    def set_agent_at_boot(self, enabled: bool) -> None:
        """Whether /init starts qemu-ga at the guest's next boot.

        With a disk, a flag in its first sector: it applies to any next boot,
        a reboot from inside too. Without one, the kernel command line of the
        persistent definition: it applies from the next start (after destroy).
        Either way the domain keeps its UUID and stays defined.
        """
        try:
            path = self.disk_path()
        except RuntimeError:
            self._set_cmdline_flag(NO_AGENT_FLAG, not enabled)
            return
        flags = [f for f in disk.read_flags(path) if f != disk.NO_AGENT_FLAG]
        disk.write_flags(path, flags if enabled else [*flags, disk.NO_AGENT_FLAG])

    def _set_cmdline_flag(self, flag: str, present: bool) -> None:
        root = ET.fromstring(self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        cmdline = root.find("os/cmdline")
        words = [w for w in (cmdline.text or "").split() if w != flag]
        cmdline.text = " ".join([*words, flag] if present else words)
        connection().defineXML(ET.tostring(root, encoding="unicode"))

    def fill_disk(self) -> int:
        """Make the guest's next disk writes fail with ENOSPC (needs disk_fs_mib)."""
        return disk.fill(self.disk_path())

    def unfill_disk(self) -> None:
        """Give the disk's filesystem its space back; resume() retries the failed write."""
        disk.unfill(self.disk_path())

    def hold_agent_call(self, timeout: int | None = 600) -> AgentCallHolder:
        """Another client's guest-ping in flight (virsh qemu-agent-command), started now."""
        holder = AgentCallHolder(self, timeout)
        holder.start()
        return holder

    # the guest's own work and faults (control-port commands)

    def disk_start(self) -> None:
        """Start the disk workload: 5 x a second, a 64 KiB direct write + flush and a read."""
        self.control("disk-start")

    def disk_stop(self) -> None:
        self.control("disk-stop")

    def net_start(self) -> None:
        """Start transmitting (pings to nobody, 10 packets a second); needs nic=True."""
        self.control("net-start")

    def net_stop(self) -> None:
        self.control("net-stop")

    def watchdog_arm(self, timeout: int = 2) -> None:
        """Open /dev/watchdog with that timeout (seconds) and feed it every 500 ms."""
        self.control(f"watchdog-arm {timeout}")

    def watchdog_starve(self) -> None:
        """Stop feeding the armed watchdog (SIGKILL to the feeder: it stays armed)."""
        self.control("watchdog-starve")

    def watchdog_disarm(self) -> None:
        """Stop the watchdog cleanly (magic close)."""
        self.control("watchdog-disarm")

    def poweroff_after(self, seconds: float) -> None:
        """The guest powers itself off (poweroff -f) after that many seconds."""
        self.control(f"poweroff-after {seconds:g}")

    # kernel-level faults (issue 19: kernel heartbeat)

    def panic_without_pvpanic(self) -> None:
        """Panic the kernel (sysrq c) of a guest with no pvpanic device.

        panic=0 keeps the dead kernel spinning: the domain stays running, no
        event, the agent's port stays open; only the balloon heartbeat stops.
        """
        root = ET.fromstring(self.dom.XMLDesc(0))
        if root.find("devices/panic") is not None:
            raise RuntimeError(f"{self.name} has a pvpanic device: a panic would be an event")
        if "panic=0" not in (root.findtext("os/cmdline") or "").split():
            raise RuntimeError(f"{self.name} does not boot with panic=0: it would reboot")
        self.control("panic")

    def freeze_userspace(self, seconds: float) -> None:
        """SIGSTOP every guest process but init (PID 1, which serves the control
        port) for at most that many seconds; thaw_userspace() ends it sooner."""
        self.control(f"freeze-userspace {seconds:g}")

    def thaw_userspace(self) -> None:
        """SIGCONT every guest process (ends freeze_userspace)."""
        self.control("thaw-userspace")

    def crash_loaded(self) -> None:
        """Write "crash loaded" (2) to the pvpanic port 0x505 from inside the guest, as
        a kernel about to write its kdump does; needs pvpanic=True. libvirt raises
        CRASHED/crashloaded and the guest keeps running."""
        self.control("crash-loaded")

    def balloon_unload(self) -> None:
        """rmmod virtio_balloon: the guest stops answering statistics requests."""
        self.control("balloon-unload")

    def balloon_load(self) -> None:
        """insmod virtio_balloon again (nothing if loaded)."""
        self.control("balloon-load")

    def set_metadata(self, namespace: str, key: str, xml: str | None,
                     live: bool = True, config: bool = False) -> None:
        """virsh metadata DOMAIN NAMESPACE --key KEY --set XML (None: --remove),
        on the running domain (--live) and/or its definition (--config)."""
        flags = (libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0) | (
            libvirt.VIR_DOMAIN_AFFECT_CONFIG if config else 0)
        self.dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml,
                             key if xml is not None else None, namespace, flags)

    def set_balloon_period(self, seconds: int) -> None:
        """Set the balloon statistics period of the running domain (live only)."""
        self.dom.setMemoryStatsPeriod(seconds, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    # agent

    def agent_ping(self, timeout: int = 2) -> None:
        """One guest-ping; raises libvirt.libvirtError as libvirt does."""
        libvirt_qemu.qemuAgentCommand(self.dom, GUEST_PING, timeout, 0)

    def wait_agent(self, timeout: float = 60) -> float:
        """Wait until guest-ping succeeds; return the seconds it took."""
        started = time.monotonic()
        last_error = None
        while time.monotonic() - started < timeout:
            try:
                self.agent_ping()
                return time.monotonic() - started
            except libvirt.libvirtError as error:
                last_error = error
                time.sleep(0.1)
        raise TimeoutError(
            f"{self.name}: agent did not answer within {timeout} s ({last_error});"
            f" console:\n{self.console_tail()}"
        )

    def wait_agent_disconnected(self, timeout: float = 10) -> float:
        """Wait until libvirt reports the agent "not connected"; return the seconds it took.

        libvirt learns that qemu-ga closed its port a moment after the guest
        acknowledged agent-stop/agent-kill; pings in between may still fail
        differently ("disappeared while executing command").
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                self.agent_ping(timeout=1)
            except libvirt.libvirtError as error:
                if "not connected" in (error.get_error_message() or ""):
                    return time.monotonic() - started
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: agent still connected after {timeout} s")

    def agent_socket(self) -> Path | None:
        """Host path of the agent channel's socket (from the live XML), or None."""
        root = ET.fromstring(self.dom.XMLDesc(0))
        for channel in root.iterfind("devices/channel"):
            target = channel.find("target")
            if target is not None and target.get("name") == AGENT_PORT:
                return Path(channel.find("source").get("path"))
        return None

    def heal(self, timeout: float = 30) -> float:
        """Make a hung/stopped/killed agent answer again; return seconds to first ping."""
        started = time.monotonic()
        self.control("agent-resume")
        self.control("agent-start")
        self.wait_agent(timeout)
        return time.monotonic() - started

    # the control port

    def control(self, command: str, timeout: float = 15) -> None:
        """Send a command to the guest's /init and wait for its acknowledgement.

        Commands: ping, agent-stop, agent-kill, agent-hang, agent-resume,
        agent-start, panic, reboot, poweroff, poweroff-after SECONDS,
        disk-start, disk-stop, net-start, net-stop, watchdog-arm [SECONDS],
        watchdog-starve, watchdog-disarm, freeze-userspace SECONDS,
        thaw-userspace, crash-loaded, balloon-unload, balloon-load, app-up
        and app-down (create or remove /run/app), agent-restart-blocking
        RPCS (qemu-ga restarted with -b RPCS; "-" for none), procs-between
        NAME MIN MAX (acknowledged only if MIN <= processes named NAME <=
        MAX; else the guest rejects it: ValueError). The guest
        drops what is sent while its port is closed, so the command is resent
        until acknowledged (all commands are idempotent, but poweroff-after:
        each one acknowledged starts a timer, and crash-loaded: each one is
        an event).
        """
        if command.split(" ")[0] not in CONTROL_COMMANDS:
            raise ValueError(f"unknown control command {command!r}")
        deadline = time.monotonic() + timeout
        with connect_control(control_socket(self.name), deadline) as sock:
            wait_ack(sock, command, deadline, self.name)
        log.debug("%s: %s acknowledged", self.name, command)

    # console

    def console_log(self) -> str:
        try:
            return (guest_dir(self.name) / "console.log").read_text(errors="replace")
        except OSError:
            return ""

    def console_tail(self, lines: int = 15) -> str:
        return "\n".join(self.console_log().splitlines()[-lines:])


def state_names(state: int, reason: int) -> tuple[str, str]:
    """(state, reason) numbers as names, from libvirt's constants."""
    states = {getattr(libvirt, n): n[len("VIR_DOMAIN_"):].lower() for n in (
        "VIR_DOMAIN_NOSTATE", "VIR_DOMAIN_RUNNING", "VIR_DOMAIN_BLOCKED", "VIR_DOMAIN_PAUSED",
        "VIR_DOMAIN_SHUTDOWN", "VIR_DOMAIN_SHUTOFF", "VIR_DOMAIN_CRASHED",
        "VIR_DOMAIN_PMSUSPENDED")}
    state_name = states.get(state, str(state))
    prefix = f"VIR_DOMAIN_{state_name.upper()}_"
    reasons = {getattr(libvirt, n): n[len(prefix):].lower()
               for n in dir(libvirt) if n.startswith(prefix) and not n.endswith("_LAST")}
    return state_name, reasons.get(reason, str(reason))


def create_disk(name: str, size_mib: int, fs_mib: int | None) -> Path:
    """A fresh disk image for the guest, on a tmpfs of its own if fs_mib."""
    if fs_mib:
        directory = disk.fs_dir(name)
        disk.mount_tmpfs(directory, fs_mib)
    else:
        directory = guest_dir(name)
    path = directory / "disk.img"
    disk.create_image(path, size_mib)
    return path


class AgentCallHolder:
    """``virsh qemu-agent-command DOM guest-ping``, run while the test goes on.

    On a hung agent it holds the domain's agent job: any other agent call on
    the domain waits for it and fails after 30 s ("cannot acquire state change
    lock"). Stopping the virsh does not end the call inside libvirtd: that
    ends when the agent answers (resume it), the timeout passes or the domain
    goes away.
    """

    def __init__(self, guest: Guest, timeout: int | None) -> None:
        self.guest = guest
        self.timeout = timeout
        self.output = guest_dir(guest.name) / "agent-call.log"
        self.process = GroupProcess(f"agent call on {guest.name}")

    def start(self) -> None:
        wait = ["--block"] if self.timeout is None else ["--timeout", str(self.timeout)]
        self.output.write_bytes(b"")
        self.process.start(["virsh", "-c", LIBVIRT_URI, "qemu-agent-command", self.guest.uuid,
                            GUEST_PING, *wait], self.output)

    @property
    def running(self) -> bool:
        """True while the virsh waits for its answer."""
        return self.process.running

    def stop(self, timeout: float = 5) -> None:
        self.process.stop(timeout)

    def result(self) -> str:
        """What the virsh printed (its answer or error)."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def __enter__(self) -> AgentCallHolder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop(timeout=5)


def connect_control(path: Path, deadline: float) -> socket.socket:
    """Connect to a guest's control socket, retrying while QEMU is starting."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_ack(sock: socket.socket, command: str, deadline: float, name: str) -> None:
    """Send command every RESEND_INTERVAL until the line 'ok command' comes back."""
    buffer = b""
    next_send = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            sock.sendall(command.encode() + b"\n")
            next_send = now + RESEND_INTERVAL
        sock.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            raise ConnectionError(
                f"{name}: control socket closed before '{command}' was acknowledged")
        buffer += chunk
        lines = buffer.split(b"\n")
        buffer = lines.pop()
        replies = {line.decode(errors="replace").strip() for line in lines}
        if f"err {command}" in replies:
            raise ValueError(f"{name}: guest rejected control command {command!r}")
        if f"ok {command}" in replies:
            return
    raise TimeoutError(f"{name}: control command {command!r} not acknowledged")


# --- cleanup -----------------------------------------------------------------------


def remove_domain(name: str) -> None:
    """Destroy and undefine the domain called name, if there is one."""
    try:
        dom = connection().lookupByName(name)
    except libvirt.libvirtError:
        return
    Guest(name, dom.UUIDString()).undefine()


def destroy_all(prefix: str = "") -> list[str]:
    """Destroy and undefine every bed domain whose name starts with prefix; return the names.

    Only domains created by this bed (marked in their <description>) are touched.
    """
    removed = []
    for dom in connection().listAllDomains(0):
        name = dom.name()
        if name.startswith(prefix) and is_bed_domain(dom):
            Guest(name, dom.UUIDString()).undefine()
            removed.append(name)
    if removed:
        log.info("removed domains: %s", ", ".join(removed))
    return removed
