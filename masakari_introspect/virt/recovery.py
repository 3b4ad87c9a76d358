"""The ``libvirt`` recovery driver: the monitor recovers a failed guest itself.

``reset`` is virDomainReset (a hardware reset, same QEMU process);
``restart`` destroys the domain and starts its persistent definition again
(a new QEMU process). Each action opens its own connection to libvirt and
closes it; the monitoring connection is not involved.

After the action a short-lived thread pings the guest agent until it answers
or ``agent_wait`` has passed, and logs which, with the time it took.

Exactly once across a crash of the monitor: :meth:`LibvirtRecovery.begin`
returns the domain's id (its QEMU process) and the spool stores it before the
action. An entry found started by an earlier process is done if the domain
now runs under another id (the QEMU process was replaced: the restart ran, or
someone else restarted the guest); with the same id the action is run again,
which for ``reset`` means a second reset only if the monitor died within the
moment between the mark and the end of the reset.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None
    libvirt_qemu = None

from oslo_log import log as logging

from masakari_introspect.core.model import Delivery
from masakari_introspect.core.model import DeliveryResult
from masakari_introspect.core.model import GUEST_PING
from masakari_introspect.core.model import Notification
from masakari_introspect.core.model import Outcome
from masakari_introspect.virt import errors

LOG = logging.getLogger(__name__)

ACTIONS = ('reset', 'restart')
PING_TIMEOUT = 2


def _ignore_libvirt_errors(_ctx: object, _err: object) -> None:
    """Errors are raised as exceptions; keep libvirt from printing them."""


def _agent_answers(domain: Any) -> bool:
    try:
        libvirt_qemu.qemuAgentCommand(domain, GUEST_PING, PING_TIMEOUT, 0)
    except libvirt.libvirtError:
        return False
    return True


class LibvirtRecovery:
    """Resets or restarts the failed guest's domain; never raises."""

    name = 'libvirt recovery'

    def __init__(self, uri: str, action: str, *, agent_wait: float = 300.0,
                 agent_answers: Callable[[Any], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if action not in ACTIONS:
            raise ValueError('unknown libvirt action %r' % action)
        if libvirt is None:
            raise RuntimeError('the libvirt Python binding is not installed '
                               '(pip install libvirt-python)')
        libvirt.registerErrorHandler(_ignore_libvirt_errors, None)
        self._uri = uri
        self._action = action
        self._agent_wait = agent_wait
        self._agent_answers = agent_answers or _agent_answers
        self._clock = clock
        self._sleep = sleep
        self.watchers: list[threading.Thread] = []

    def begin(self, notification: Notification) -> str:
        try:
            with _Connection(self._uri) as conn:
                domain = conn.lookupByUUIDString(notification.instance_uuid)
                return str(domain.ID())
        except libvirt.libvirtError:
            return ''

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        if not token or token == '-1':
            return None
        try:
            with _Connection(self._uri) as conn:
                domain = conn.lookupByUUIDString(notification.instance_uuid)
                now = str(domain.ID())
        except libvirt.libvirtError as exc:
            result = self._failure(exc)
            return result if result.delivery is Delivery.TRANSIENT else None
        if now != '-1' and now != token:
            return DeliveryResult(
                Delivery.DELIVERED, None, 'the domain runs a new QEMU '
                'process (id %s, was %s)' % (now, token))
        return None

    def send(self, notification: Notification) -> DeliveryResult:
        uuid = notification.instance_uuid
        try:
            with _Connection(self._uri) as conn:
                domain = conn.lookupByUUIDString(uuid)
                if self._action == 'reset':
                    domain.reset(0)
                    done = 'reset'
                else:
                    if not domain.isPersistent():
                        return DeliveryResult(
                            Delivery.REJECTED, None, 'a transient domain '
                            'cannot be restarted; use libvirt_action = reset')
                    if domain.isActive():
                        domain.destroy()
                    domain.create()
                    done = 'restarted (destroy, start) as id %s' \
                        % domain.ID()
        except libvirt.libvirtError as exc:
            return self._failure(exc)
        self._watch_agent(notification, done)
        return DeliveryResult(Delivery.DELIVERED, None, done)

    @staticmethod
    def _failure(exc: Any) -> DeliveryResult:
        outcome = errors.classify(exc.get_error_code(),
                                  exc.get_error_domain())
        if outcome is Outcome.GONE:
            return DeliveryResult(Delivery.REJECTED, None,
                                  'no such domain on this host: %s' % exc)
        return DeliveryResult(Delivery.TRANSIENT, None, 'libvirt: %s' % exc)

    def _watch_agent(self, notification: Notification, done: str) -> None:
        thread = threading.Thread(
            target=self._wait_for_agent, args=(notification, done),
            name='agent-after-recovery', daemon=True)
        self.watchers.append(thread)
        self.watchers = [t for t in self.watchers if t.is_alive()
                         or t is thread]
        thread.start()

    def _wait_for_agent(self, notification: Notification, done: str) -> None:
        started = self._clock()
        label = '%s (%s)' % (notification.instance_name,
                             notification.instance_uuid)
        try:
            with _Connection(self._uri) as conn:
                domain = conn.lookupByUUIDString(notification.instance_uuid)
                while self._clock() - started < self._agent_wait:
                    if self._agent_answers(domain):
                        LOG.info('Instance %s %s: the guest agent answered '
                                 'again %.1f s later', label, done,
                                 self._clock() - started)
                        return
                    self._sleep(1.0)
        except libvirt.libvirtError as exc:
            LOG.warning('Instance %s %s; cannot watch its guest agent: %s',
                        label, done, exc)
            return
        LOG.warning('Instance %s %s: the guest agent did not answer within '
                    '%.0f s', label, done, self._agent_wait)


class _Connection:
    """A libvirt connection for the length of a ``with`` block."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._conn: Any = None

    def __enter__(self) -> Any:
        self._conn = libvirt.open(self._uri)
        return self._conn

    def __exit__(self, *_exc: object) -> None:
        try:
            self._conn.close()
        except libvirt.libvirtError:
            pass
