"""The ``libvirt`` recovery driver: the monitor recovers a failed guest itself.

What is done depends on the domain's state when the attempt starts:

* running: ``reset`` (virDomainReset, same QEMU process) or ``restart``
  (destroy, then start: a new QEMU process), as ``libvirt_action`` says; a
  transient domain cannot be restarted and is reset;
* shut off by a failure (a persistent domain after a crash with
  ``on_crash=destroy``, a QEMU process that died: libvirt's reasons
  ``crashed``, ``failed``, ``daemon``), or by the driver's own destroy:
  started; shut off for any other reason (an operator shut it down or
  destroyed it after the report): not started, and the entry ends;
* paused by an I/O error, a watchdog or a crash (``on_crash=preserve``):
  destroyed and started when persistent, reset and resumed when transient;
* paused on purpose (an operator, a migration, a save): left alone, and the
  attempt is retried later;
* gone (a transient domain that stopped, an undefined one): it cannot be
  recovered: one ERROR, and the entry ends (``Delivery.UNRECOVERABLE``).

An attempt is done only when the domain runs again; a failed start (after
the driver's own destroy, say) is a transient failure, retried with backoff,
and the next attempt finds the domain shut off and starts it. Afterwards a
short-lived thread pings the guest agent until it answers or ``agent_wait``
has passed, and logs which, with the time it took.

Exactly once across a crash of the monitor: :meth:`LibvirtRecovery.begin`
announces the domain's id (its QEMU process, -1 when shut off) and the spool
stores it before the action. An entry found started by an earlier process is
done if the domain now has another id (the restart or start ran, or someone
else restarted the guest). Otherwise it is attempted again: a domain left
shut off between the destroy and the start is started; a running one with
the same id is reset again, which can only happen if the monitor died within
the moment of the reset itself.

No libvirt here: the calls are behind :class:`Domains`, implemented by
:mod:`masakari_introspect.virt.domain_control`.
"""

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from oslo_config import cfg
from oslo_log import log as logging

from masakari_introspect.core.model import DomainActionFailed
from masakari_introspect.core.model import DomainStatus
from masakari_introspect.core.model import Power
from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification

LOG = logging.getLogger(__name__)

ACTIONS = ('reset', 'restart')
STOP_EVENT_MARGIN = 1.0   # seconds; see _restart
# libvirt's reasons for a shut off domain that mean a failure, not a choice.
FAILED_SHUTOFF = ('crashed', 'failed', 'daemon')


class Domain(Protocol):
    """One domain; each call raises DomainActionFailed when it fails."""

    def status(self) -> DomainStatus:
        ...

    def reset(self) -> None:
        ...

    def destroy(self) -> None:
        ...

    def start(self) -> None:
        ...

    def resume(self) -> None:
        ...

    def agent_answers(self) -> bool:
        ...


class Domains(Protocol):
    def session(self, uuid: str) -> AbstractContextManager[Domain]:
        """The domain, looked up; DomainActionFailed if it cannot be."""
        ...


def _label(notification: Notification) -> str:
    return '%s (%s)' % (notification.instance_name,
                        notification.instance_uuid)


class LibvirtRecovery:
    """Brings the failed guest's domain back to running; never raises."""

    name = 'libvirt recovery'

    def __init__(self, domains: Domains, action: str, *,
                 agent_wait: float = 300.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if action not in ACTIONS:
            raise ValueError('unknown libvirt action %r' % action)
        self._domains = domains
        self._action = action
        self._agent_wait = agent_wait
        self._clock = clock
        self._sleep = sleep
        self.watchers: list[threading.Thread] = []
        self._destroyed: set[str] = set()   # by this driver, not started
        self._began: dict[str, str] = {}     # tokens given in this process

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> 'LibvirtRecovery':
        """The driver on ``[libvirt] connection_uri``, acting as
        ``[recovery] libvirt_action`` says."""
        # Imported here: this module itself stays free of libvirt.
        from masakari_introspect.virt.domain_control import LibvirtDomains
        return cls(LibvirtDomains(conf.libvirt.connection_uri),
                   conf.recovery.libvirt_action)

    def begin(self, notification: Notification) -> str:
        try:
            with self._domains.session(notification.instance_uuid) as domain:
                token = str(domain.status().domain_id)
        except DomainActionFailed:
            return ''
        self._began[notification.instance_uuid] = token
        return token

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        if not token:
            return None
        try:
            with self._domains.session(notification.instance_uuid) as domain:
                status = domain.status()
        except DomainActionFailed as exc:
            return None if exc.gone else DeliveryResult(
                Delivery.TRANSIENT, None, 'libvirt: %s' % exc)
        if status.domain_id >= 0 and str(status.domain_id) != token:
            return DeliveryResult(
                Delivery.DELIVERED, None, 'the domain runs a new QEMU '
                'process (id %s, was %s)' % (status.domain_id, token))
        uuid = notification.instance_uuid
        if status.power is Power.SHUT_OFF and status.reason == 'destroyed' \
                and token != '-1' and self._began.get(uuid) != token:
            # An earlier process destroyed it and did not start it (in
            # this one, _destroyed says whether the destroy was its own).
            self._destroyed.add(uuid)
        return None    # shut off (not started yet) or the same process

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            with self._domains.session(notification.instance_uuid) as domain:
                before = domain.status()
                if before.power is Power.SHUT_OFF and \
                        before.reason not in FAILED_SHUTOFF and \
                        notification.instance_uuid not in self._destroyed:
                    LOG.info('Instance %s was shut off on purpose (%s) '
                             'after it was reported: not started; its '
                             'recovery ends', _label(notification),
                             before.reason or 'unknown reason')
                    return DeliveryResult(
                        Delivery.UNRECOVERABLE, None, 'shut off on purpose '
                        '(%s); not started' % (before.reason or 'unknown'))
                done = self._recover(domain, before,
                                     notification.instance_uuid)
                after = domain.status()
        except DomainActionFailed as exc:
            if exc.gone:
                LOG.error('Instance %s cannot be recovered: %s (a transient '
                          'domain that stopped is gone); giving up on it',
                          _label(notification), exc)
                return DeliveryResult(Delivery.UNRECOVERABLE, None, str(exc))
            return DeliveryResult(Delivery.TRANSIENT, None,
                                  'libvirt: %s' % exc)
        if after.domain_id != before.domain_id:
            done += ' as id %s' % after.domain_id
        if after.power is not Power.RUNNING:
            return DeliveryResult(
                Delivery.TRANSIENT, None, '%s, but the domain is %s%s'
                % (done, after.power.value,
                   ' (%s)' % after.reason if after.reason else ''))
        self._watch_agent(notification, done)
        return DeliveryResult(Delivery.DELIVERED, None, done)

    def _recover(self, domain: Domain, status: DomainStatus,
                 uuid: str) -> str:
        """Act on the domain as its state asks; what was done."""
        if status.power is Power.RUNNING:
            if self._action == 'restart' and status.persistent:
                return self._restart(domain, uuid,
                                     'restarted (destroy, start)')
            domain.reset()
            return 'reset' if self._action == 'reset' else \
                'reset (a transient domain cannot be restarted)'
        if status.power is Power.SHUT_OFF:
            self._start(domain, 'the domain is shut off')
            self._destroyed.discard(uuid)
            return 'started (it was shut off)'
        if status.power is Power.STUCK:
            if status.persistent:
                return self._restart(
                    domain, uuid, 'destroyed and started (it was %s)'
                    % (status.reason or 'stuck'))
            domain.reset()
            domain.resume()
            return 'reset and resumed (it was %s)' % (status.reason or
                                                      'stuck')
        raise DomainActionFailed(
            'the domain is paused (%s), not by a failure; not touched, '
            'tried again later' % status.reason)

    def _restart(self, domain: Domain, uuid: str, done: str) -> str:
        domain.destroy()
        self._destroyed.add(uuid)
        try:
            self._start(domain, 'destroyed')
        except DomainActionFailed:
            # The stop event of the destroy reaches the monitor on another
            # connection: let it arrive while the attempt is still under
            # way, so that it cannot withdraw the entry afterwards.
            self._sleep(STOP_EVENT_MARGIN)
            raise
        self._destroyed.discard(uuid)
        return done

    @staticmethod
    def _start(domain: Domain, state: str) -> None:
        try:
            domain.start()
        except DomainActionFailed as exc:
            raise DomainActionFailed('%s; %s; starting it is retried'
                                     % (state, exc), gone=exc.gone) from None

    # -- after the action ------------------------------------------------------

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
        label = _label(notification)
        try:
            with self._domains.session(notification.instance_uuid) as domain:
                while self._clock() - started < self._agent_wait:
                    if domain.agent_answers():
                        LOG.info('Instance %s %s: the guest agent answered '
                                 'again %.1f s later', label, done,
                                 self._clock() - started)
                        return
                    self._sleep(1.0)
        except DomainActionFailed as exc:
            LOG.warning('Instance %s %s; cannot watch its guest agent: %s',
                        label, done, exc)
            return
        LOG.warning('Instance %s %s: the guest agent did not answer within '
                    '%.0f s', label, done, self._agent_wait)
