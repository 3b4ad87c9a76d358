"""The libvirt connection's own logic, on a fake connection (no libvirtd)."""

import threading
import time

import pytest

from masakari_introspect.virt import host as host_mod
from masakari_introspect.virt.side import SidePool

pytestmark = pytest.mark.skipif(host_mod.libvirt is None,
                                reason='libvirt-python is not installed')


class FakeConnection:
    def __init__(self):
        self.closed = False
        self.callbacks = []

    def registerCloseCallback(self, callback, opaque):
        self.close_callback = callback

    def unregisterCloseCallback(self):
        pass

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):
        self.callbacks.append(event_id)
        return len(self.callbacks)

    def domainEventDeregisterAny(self, callback_id):
        pass

    def setKeepAlive(self, interval, count):
        pass

    def close(self):
        self.closed = True


def make_host(host_class=host_mod.LibvirtHost):
    ups = []
    host = host_class('qemu:///system', on_event=lambda event: None,
                      on_connection=ups.append,
                      opener=lambda uri: FakeConnection())
    return host, ups


def test_events_are_registered_with_the_watchdog_among_them():
    host, _ups = make_host()
    assert host._connect_with_backoff()
    libvirt = host_mod.libvirt
    assert set(host._conn.callbacks) == {
        libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        libvirt.VIR_DOMAIN_EVENT_ID_REBOOT,
        libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
        libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG,
        libvirt.VIR_DOMAIN_EVENT_ID_METADATA_CHANGE}
    host.close()


class LossOnRelease:
    """A lock that lets the connection die the moment it is released: right
    after the new connection was published under it."""

    def __init__(self, real, hook):
        self._real = real
        self._hook = hook

    def __enter__(self):
        self._real.acquire()

    def __exit__(self, *exc):
        self._real.release()
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()


def test_a_loss_right_after_reconnecting_is_not_erased():
    host, ups = make_host()
    host._lock = LossOnRelease(host._lock, lambda: host._lose(
        host._conn, 'closed right away'))
    assert host._connect_with_backoff()
    # The reconnect loop waits on this flag: erased, it would wait forever
    # with no connection.
    assert host._lost.is_set()
    assert not host.connected
    assert ups == [False]
    host.close()


class CountingSide:
    """Stands in for one probe connection; records the calls it carries."""

    def __init__(self, gate):
        self.calls = 0
        self.gate = gate

    def ping(self, uuid, timeout, osinfo=False):
        self.calls += 1
        self.gate.wait(5)
        return uuid


def test_probe_connections_fill_up_before_another_is_used():
    gate = threading.Event()
    pool = SidePool('qemu:///system', lambda: True, connections=3, slots=2)
    pool._sides = [CountingSide(gate) for _ in range(3)]
    threads = [threading.Thread(target=pool.ping, args=('u', 1))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while sum(s.calls for s in pool._sides) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert [s.calls for s in pool._sides] == [2, 2, 1]
