"""One test-bed guest: a persistent libvirt domain (TCG) running the real qemu-ga.

Faults are injected from inside the guest through a second virtio-serial port
(``org.example.ctl.0``, a unix socket on the host): see ``Guest.control``.
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

from tests.bed.host import LIBVIRT_URI, cache_dir
from tests.bed.image import GuestImage

log = logging.getLogger(__name__)

AGENT_PORT = "org.qemu.guest_agent.0"
CONTROL_PORT = "org.example.ctl.0"
BED_MARK = "masakari-introspect test bed guest"
QEMU_DIR = Path("/var/lib/libvirt/qemu")
CMDLINE = "console=ttyS0 panic=0 quiet"
NO_AGENT_FLAG = "bed.noagent"
GUEST_PING = '{"execute":"guest-ping"}'
CONTROL_COMMANDS = (
    "ping", "agent-stop", "agent-kill", "agent-hang", "agent-resume", "agent-start",
    "panic", "reboot", "poweroff",
)
RESEND_INTERVAL = 1.0

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


def domain_xml(name: str, image: GuestImage, *, agent_channel: bool, agent_autostart: bool,
               nova_socket_path: bool, memory_mib: int) -> str:
    domain = ET.Element("domain", type="qemu")
    sub(domain, "name", name)
    sub(domain, "description", BED_MARK)
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
    sub(domain, "on_crash", "destroy")
    devices = sub(domain, "devices")
    sub(devices, "controller", type="virtio-serial", index="0")
    sub(devices, "controller", type="usb", model="none")
    if agent_channel:
        add_channel(devices, AGENT_PORT, nova_agent_socket(name) if nova_socket_path else None)
    add_channel(devices, CONTROL_PORT, control_socket(name))
    serial = sub(devices, "serial", type="file")
    sub(serial, "source", path=str(guest_dir(name) / "console.log"))
    sub(serial, "target", port="0")
    sub(devices, "memballoon", model="none")
    return ET.tostring(domain, encoding="unicode")


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
               memory_mib: int = 128) -> Guest:
        """Define (not start) a persistent domain, replacing any domain of that name."""
        remove_domain(name)
        xml = domain_xml(name, image, agent_channel=agent_channel,
                         agent_autostart=agent_autostart, nova_socket_path=nova_socket_path,
                         memory_mib=memory_mib)
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
        agent-start, panic, reboot, poweroff. The guest drops what is sent
        while its port is closed, so the command is resent until acknowledged
        (all commands are idempotent).
        """
        if command not in CONTROL_COMMANDS:
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
