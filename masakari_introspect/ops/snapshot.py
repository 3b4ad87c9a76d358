"""The service's status as one typed value, and its JSON form.

The status server encodes a :class:`Snapshot` with :func:`encode`; the
status client decodes the answer with :func:`decode`; the status command's
``--json`` prints :func:`encode` again. The JSON field names are those the
command has always printed (operators' scripts read them); ``phase`` was
added beside ``state``, the label shown to people.
"""

import dataclasses
from typing import Any

from masakari_introspect.core.model import Phase
from masakari_introspect.core.model import Reason
from masakari_introspect.core.status import AppProbeStatus
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.recovery.outbox import PendingNotification


@dataclasses.dataclass(frozen=True)
class ServiceStatus:
    host: str
    pid: int
    dry_run: bool
    libvirt_connected: bool
    notifications_pending: int
    # each pending notification: age, attempts, last error
    notifications: tuple[PendingNotification, ...] = ()


@dataclasses.dataclass(frozen=True)
class Snapshot:
    service: ServiceStatus
    instances: tuple[InstanceStatus, ...]


def encode(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON object of a status answer (without ``ok``)."""
    return {'service': dataclasses.asdict(snapshot.service),
            'instances': [encode_instance(i) for i in snapshot.instances]}


def encode_instance(status: InstanceStatus) -> dict[str, Any]:
    """One instance's JSON object."""
    doc: dict[str, Any] = {
        'uuid': status.uuid, 'name': status.name, 'state': status.label,
        'phase': status.phase.value if status.phase else None,
        'reason': status.reason.value if status.reason else None,
        'misses': status.misses,
        'seconds_since_success': status.seconds_since_success,
        'reported': status.reported,
        'last_notification': status.last_notification,
        'maintenance': status.maintenance,
        'recovery_limited': status.recovery_limited,
        'recent_reports': status.recent_reports,
        'monitored': status.monitored, 'rule': status.rule or None}
    if status.absent_seconds is not None:
        doc['absent_seconds'] = status.absent_seconds
    if status.heartbeat_age is not None:
        doc['heartbeat_age'] = status.heartbeat_age
    if status.died is not None:
        doc['died'] = status.died
    if status.probes:
        doc['application'] = status.application
        doc['probes'] = [dataclasses.asdict(p) for p in status.probes]
    return doc


def decode(doc: dict[str, Any]) -> Snapshot:
    """The Snapshot of a status answer; KeyError, TypeError or ValueError
    if it is not one."""
    service = doc['service']
    return Snapshot(
        ServiceStatus(host=str(service['host']), pid=int(service['pid']),
                      dry_run=_flag(service['dry_run']),
                      libvirt_connected=_flag(service['libvirt_connected']),
                      notifications_pending=int(
                          service['notifications_pending']),
                      notifications=tuple(
                          _decode_pending(item)
                          for item in service.get('notifications', ()))),
        tuple(_decode_instance(i) for i in doc['instances']))


def _decode_instance(doc: dict[str, Any]) -> InstanceStatus:
    phase, reason = doc['phase'], doc['reason']
    return InstanceStatus(
        uuid=str(doc['uuid']), name=str(doc['name']),
        phase=None if phase is None else Phase(phase),
        reason=None if reason is None else Reason(reason),
        misses=int(doc['misses']),
        seconds_since_success=_number(doc['seconds_since_success']),
        reported=_flag(doc['reported']),
        last_notification=_number(doc['last_notification']),
        maintenance=_flag(doc['maintenance']),
        recovery_limited=_flag(doc['recovery_limited']),
        recent_reports=int(doc['recent_reports']),
        absent_seconds=None if doc.get('absent_seconds') is None
        else int(doc['absent_seconds']),
        heartbeat_age=_number(doc.get('heartbeat_age')),
        died=None if doc.get('died') is None else str(doc['died']),
        monitored=_flag(doc.get('monitored', True)),
        rule=str(doc.get('rule') or ''),
        probes=tuple(_decode_probe(p) for p in doc.get('probes', ())))


def _decode_probe(doc: dict[str, Any]) -> AppProbeStatus:
    exit_code = doc.get('last_exit_code')
    return AppProbeStatus(
        name=str(doc['name']), on_failure=str(doc['on_failure']),
        failing=_flag(doc['failing']), failures=int(doc['failures']),
        runs=int(doc['runs']), failed_runs=int(doc['failed_runs']),
        last_duration=_number(doc.get('last_duration')),
        last_exit_code=None if exit_code is None else int(exit_code),
        refused=_flag(doc['refused']))


def _decode_pending(doc: dict[str, Any]) -> PendingNotification:
    return PendingNotification(
        instance_uuid=str(doc['instance_uuid']),
        instance_name=str(doc['instance_name']),
        generated_time=str(doc['generated_time']),
        age=float(doc['age']), attempts=int(doc['attempts']),
        last_error=str(doc['last_error']),
        next_attempt=float(doc['next_attempt']))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError('expected true or false, got %r' % (value,))
    return value


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
