"""systemd's service notifications and watchdog, without libsystemd.

:func:`notify` sends one datagram to ``$NOTIFY_SOCKET`` (``READY=1``,
``STOPPING=1``, ``STATUS=...``, ``WATCHDOG=1``); outside systemd it does
nothing. :class:`Watchdog` sends ``WATCHDOG=1`` at half of
``$WATCHDOG_USEC``, and only while the service's decision loop answers: a
hung monitor thread stops the feeding and systemd restarts the service.
"""

import concurrent.futures
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The longest a watchdog round trip through the decision loop may take.
ANSWER_TIMEOUT = 5.0


def notify(*states: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``states`` to systemd; False if not under systemd or it fails."""
    env = os.environ if environ is None else environ
    address = env.get('NOTIFY_SOCKET', '')
    if address.startswith('@'):          # the abstract namespace
        address = '\0' + address[1:]
    elif not address.startswith('/'):    # unset, or vsock (not supported)
        return False
    message = '\n'.join(states).encode()
    try:
        with socket.socket(socket.AF_UNIX,
                           socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message)
    except OSError as exc:
        LOG.warning('Cannot notify systemd on %s: %s', env['NOTIFY_SOCKET'],
                    exc)
        return False
    return True


def watchdog_period(environ: Mapping[str, str] | None = None,
                    pid: int | None = None) -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half the timeout), or None when
    systemd expects none from this process."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get('WATCHDOG_USEC') or 0)
        owner = int(env.get('WATCHDOG_PID') or 0)
    except ValueError:
        return None
    if usec <= 0 or owner and owner != (os.getpid() if pid is None else pid):
        return None
    return usec / 2e6


class Queryable(Protocol):
    def query(self, func: Any, *args: Any
              ) -> 'concurrent.futures.Future[Any]':
        ...


def answers(monitor: Queryable, timeout: float) -> bool:
    """Whether ``monitor`` runs a function on its own thread in time."""
    future = monitor.query(lambda: True)
    try:
        return future.result(timeout) is True
    except Exception:   # timeout, a stopped monitor: not alive
        future.cancel()
        return False


class Watchdog:
    """Feeds systemd's watchdog every ``period`` s while ``alive(timeout)``."""

    def __init__(self, period: float, alive: Callable[[float], bool],
                 send: Callable[..., bool] = notify) -> None:
        self._period = period
        self._timeout = min(ANSWER_TIMEOUT, period / 2)
        self._alive = alive
        self._send = send
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starving = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='watchdog',
                                        daemon=True)
        self._thread.start()
        LOG.info('Feeding the systemd watchdog every %.1f s while the '
                 'monitor answers', self._period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._timeout + 1)

    def _run(self) -> None:
        while True:
            if self._alive(self._timeout):
                if self._starving:
                    LOG.warning('The monitor answers again; feeding the '
                                'systemd watchdog')
                    self._starving = False
                self._send('WATCHDOG=1')
            elif not self._starving:
                LOG.error('The monitor did not answer within %.1f s: not '
                          'feeding the systemd watchdog', self._timeout)
                self._starving = True
            if self._stop.wait(self._period):
                return
