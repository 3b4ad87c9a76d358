"""Record libvirt's domain events in the test process, to check what the bed's faults raise.

    with EventRecorder() as events:
        guest.control("panic")
        events.wait(guest.uuid, "lifecycle", "crashed", "panicked")

libvirt delivers events only on connections opened after an event loop
implementation was registered: the first recorder registers libvirt's default
one and runs it in a daemon thread for the rest of the process.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import libvirt

from tests.bed.host import LIBVIRT_URI

_loop_lock = threading.Lock()
_loop_started = False

LIFECYCLE = {getattr(libvirt, n): n[len("VIR_DOMAIN_EVENT_"):].lower() for n in (
    "VIR_DOMAIN_EVENT_DEFINED", "VIR_DOMAIN_EVENT_UNDEFINED", "VIR_DOMAIN_EVENT_STARTED",
    "VIR_DOMAIN_EVENT_SUSPENDED", "VIR_DOMAIN_EVENT_RESUMED", "VIR_DOMAIN_EVENT_STOPPED",
    "VIR_DOMAIN_EVENT_SHUTDOWN", "VIR_DOMAIN_EVENT_PMSUSPENDED", "VIR_DOMAIN_EVENT_CRASHED")}
WATCHDOG_ACTIONS = {getattr(libvirt, n): n[len("VIR_DOMAIN_EVENT_WATCHDOG_"):].lower()
                    for n in dir(libvirt)
                    if n.startswith("VIR_DOMAIN_EVENT_WATCHDOG_") and not n.endswith("_LAST")}


def lifecycle_detail(event: int, detail: int) -> str:
    """The detail of a lifecycle event by name: ("crashed", 0) -> "panicked"."""
    prefix = f"VIR_DOMAIN_EVENT_{LIFECYCLE.get(event, '?').upper()}_"
    for name in dir(libvirt):
        if name.startswith(prefix) and getattr(libvirt, name) == detail:
            return name[len(prefix):].lower()
    return str(detail)


def start_event_loop() -> None:
    """Register libvirt's default event loop and run it in a daemon thread, once."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


@dataclass(frozen=True)
class Event:
    """One domain event: kind is lifecycle, watchdog, io-error, agent or reboot."""

    at: float  # time.monotonic()
    uuid: str
    kind: str
    what: str = ""
    detail: str = ""
    extra: tuple = field(default=())


class EventRecorder:
    """Domain events of every domain, recorded from construction until close()."""

    def __init__(self) -> None:
        start_event_loop()
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self.conn = libvirt.open(LIBVIRT_URI)
        register = self.conn.domainEventRegisterAny
        self._ids = [
            register(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None),
            register(None, libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG, self._watchdog, None),
            register(None, libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON, self._io_error, None),
            register(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, self._agent, None),
            register(None, libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._reboot, None),
        ]

    def _add(self, dom: libvirt.virDomain, kind: str, what: str = "", detail: str = "",
             extra: tuple = ()) -> None:
        with self._cond:
            self.events.append(Event(time.monotonic(), dom.UUIDString(), kind, what, detail,
                                     extra))
            self._cond.notify_all()

    def _lifecycle(self, _conn, dom, event, detail, _opaque) -> None:
        self._add(dom, "lifecycle", LIFECYCLE.get(event, str(event)),
                  lifecycle_detail(event, detail))

    def _watchdog(self, _conn, dom, action, _opaque) -> None:
        self._add(dom, "watchdog", WATCHDOG_ACTIONS.get(action, str(action)))

    def _io_error(self, _conn, dom, src_path, dev_alias, action, reason, _opaque) -> None:
        self._add(dom, "io-error", reason, str(action), (src_path, dev_alias))

    def _agent(self, _conn, dom, state, reason, _opaque) -> None:
        connected = libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
        what = "connected" if state == connected else "disconnected"
        self._add(dom, "agent", what, str(reason))

    def _reboot(self, _conn, dom, _opaque) -> None:
        self._add(dom, "reboot")

    def of(self, uuid: str, kind: str | None = None) -> list[Event]:
        """The events recorded so far for one domain (of one kind)."""
        with self._cond:
            return [e for e in self.events if e.uuid == uuid and kind in (None, e.kind)]

    def wait(self, uuid: str, kind: str, what: str | None = None, detail: str | None = None,
             timeout: float = 30, after: float = 0.0) -> Event:
        """The first event of that domain and kind (and what, detail) recorded after
        `after` (a time.monotonic()); waits for it up to timeout seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.uuid == uuid and event.kind == kind and event.at >= after \
                            and what in (None, event.what) and detail in (None, event.detail):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(e.kind, e.what, e.detail) for e in self.events if e.uuid == uuid]
                    raise TimeoutError(f"no {kind} event {what}/{detail} for {uuid} within "
                                       f"{timeout} s; seen: {seen}")
                self._cond.wait(remaining)

    def close(self) -> None:
        for callback_id in self._ids:
            try:
                self.conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError:
                pass
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass

    def __enter__(self) -> EventRecorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
