"""The libvirt half of the ``libvirt`` recovery driver: one domain's calls.

:class:`LibvirtDomains` opens a connection of its own for each session (the
monitoring connection is not involved), looks the domain up by UUID and
hands out a :class:`LibvirtDomain`: its state in the project's words
(:class:`~masakari_introspect.core.model.DomainStatus`), and the actions a
recovery needs (reset, destroy, start, resume, a guest-ping). Every libvirt
error becomes a :class:`~masakari_introspect.core.model.DomainActionFailed`;
which action fits which state is decided in
:mod:`masakari_introspect.recovery.libvirt`, without libvirt.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None
    libvirt_qemu = None

from masakari_introspect.core.model import DomainActionFailed
from masakari_introspect.core.model import DomainStatus
from masakari_introspect.core.model import GUEST_PING
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import Power
from masakari_introspect.virt import errors
from masakari_introspect.virt import translate

PING_TIMEOUT = 2
# virDomainState
_SHUTOFF = 5
_PAUSED = (translate.STATE_PAUSED, 7)   # paused, pmsuspended
# virDomainShutoffReason
_SHUTOFF_REASONS = ('unknown', 'shutdown', 'destroyed', 'crashed', 'migrated',
                    'saved', 'failed', 'from_snapshot', 'daemon')


def _ignore_libvirt_errors(_ctx: object, _err: object) -> None:
    """Errors are raised as exceptions; keep libvirt from printing them."""


def power(state: int, reason: int) -> tuple[Power, str]:
    """libvirt's (state, reason) in the project's words, with the reason."""
    if state == _SHUTOFF:
        return Power.SHUT_OFF, _SHUTOFF_REASONS[reason] \
            if 0 <= reason < len(_SHUTOFF_REASONS) else 'unknown'
    why = translate.state_reason(state, reason)
    if state == translate.STATE_CRASHED or why.failure:
        return Power.STUCK, why.value
    if state in _PAUSED:
        return Power.PAUSED, why.value or 'pmsuspended'
    return Power.RUNNING, ''


def _failed(what: str, exc: Any) -> DomainActionFailed:
    outcome = errors.classify(exc.get_error_code(), exc.get_error_domain())
    return DomainActionFailed('%s: %s' % (what, exc),
                              gone=outcome is Outcome.GONE)


class LibvirtDomain:
    """One looked-up domain, for the length of a session."""

    def __init__(self, domain: Any) -> None:
        self._domain = domain

    def status(self) -> DomainStatus:
        try:
            state, reason = self._domain.state(0)
            persistent = bool(self._domain.isPersistent())
            domain_id = int(self._domain.ID())
        except libvirt.libvirtError as exc:
            raise _failed('cannot read the domain state', exc) from None
        power_, why = power(state, reason)
        return DomainStatus(domain_id, persistent, power_, why)

    def reset(self) -> None:
        self._call('reset', self._domain.reset, 0)

    def destroy(self) -> None:
        self._call('destroy', self._domain.destroy)

    def start(self) -> None:
        self._call('start', self._domain.create)

    def resume(self) -> None:
        self._call('resume', self._domain.resume)

    def agent_answers(self) -> bool:
        try:
            libvirt_qemu.qemuAgentCommand(self._domain, GUEST_PING,
                                          PING_TIMEOUT, 0)
        except libvirt.libvirtError:
            return False
        return True

    @staticmethod
    def _call(what: str, func: Any, *args: Any) -> None:
        try:
            func(*args)
        except libvirt.libvirtError as exc:
            raise _failed(what, exc) from None


class LibvirtDomains:
    """Sessions on single domains, each with its own connection."""

    def __init__(self, uri: str) -> None:
        if libvirt is None:
            raise RuntimeError('the libvirt Python binding is not installed '
                               '(pip install libvirt-python)')
        libvirt.registerErrorHandler(_ignore_libvirt_errors, None)
        self._uri = uri

    @contextlib.contextmanager
    def session(self, uuid: str) -> Iterator[LibvirtDomain]:
        try:
            conn = libvirt.open(self._uri)
        except libvirt.libvirtError as exc:
            raise _failed('cannot connect to libvirt', exc) from None
        try:
            try:
                domain = conn.lookupByUUIDString(uuid)
            except libvirt.libvirtError as exc:
                raise _failed('no such domain on this host', exc) from None
            yield LibvirtDomain(domain)
        finally:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass
