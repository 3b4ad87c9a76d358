"""libvirt's default event loop: registered once, before any connection,
and run in a daemon thread (the order libvirt requires)."""

import threading
import time

from oslo_log import log as logging

try:
    import libvirt
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None

LOG = logging.getLogger(__name__)

_event_loop_lock = threading.Lock()
_event_loop_started = False


def _ignore_libvirt_errors(_ctx: object, _err: object) -> None:
    """Errors are raised as exceptions; keep libvirt from printing them."""


def start_event_loop() -> None:
    """Register libvirt's default event loop once and run it in a thread."""
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        if libvirt is None:
            raise RuntimeError('the libvirt Python binding is not installed '
                               '(pip install libvirt-python)')
        libvirt.registerErrorHandler(_ignore_libvirt_errors, None)
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run_event_loop,
                                  name='libvirt-events', daemon=True)
        thread.start()
        _event_loop_started = True


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:
            LOG.exception('libvirt event loop iteration failed')
            time.sleep(0.1)


def settle(timeout: float) -> bool:
    """Wait until libvirt's event loop has run the callbacks of every event
    this process has received so far; False if it did not within
    ``timeout`` seconds.

    A received event waits for the loop in a zero timeout of its own, added
    when it came in; a zero timeout added now is dispatched after it (the
    loop runs due timeouts in the order they were added).
    """
    done = threading.Event()

    def ran(timer: int, _opaque: object) -> None:
        try:
            libvirt.virEventRemoveTimeout(timer)
        finally:
            done.set()

    libvirt.virEventAddTimeout(0, ran, None)
    return done.wait(timeout)
