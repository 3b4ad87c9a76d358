"""What survives a restart of the service, kept small.

Per instance, only what a restarted monitor could not learn again from
libvirt: whether the agent has answered since the domain's QEMU process
started, and whether the current failure episode was already reported (both
tied to libvirt's domain id: a different id means a new QEMU process, and they
are void); whether the agent ever answered on this host (for boot hangs) and
when the instance was last reported (for the recovery limit), which outlive
the QEMU process, and whether a report is held back by that limit (sent
when the window allows, after a restart too); and a failure an event told
while the instance was excluded (maintenance, ``monitor: false``), held for
the end of the exclusion and void for another domain id, and the reason of
a reported episode (what a report the limit holds back says, what is held
if a pending one is withdrawn for maintenance). Report times are wall-clock
stamps, read back clamped to now. Pending notifications live in the spool,
not here.
"""

import json
import pathlib
from typing import Any

from oslo_log import log as logging

from masakari_introspect.core.actions import Remembered
from masakari_introspect.core.model import Reason
from masakari_introspect.durable import write_atomically

LOG = logging.getLogger(__name__)


def _value(reason: Reason | None) -> str | None:
    return None if reason is None else reason.value


class StateStore:
    def __init__(self, path: pathlib.Path) -> None:
        self._path = pathlib.Path(path)

    def load(self) -> dict[str, Remembered]:
        raw = self._read()
        try:
            return {uuid: Remembered(
                int(rec['domain_id']), bool(rec['answered']),
                bool(rec['reported']), bool(rec.get('known', False)),
                tuple(float(t) for t in rec.get('reports', ())),
                bool(rec.get('limited', False)),
                self._reason(uuid, rec.get('held')),
                self._reason(uuid, rec.get('reason')))
                for uuid, rec in raw.get('instances', {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            LOG.error('Ignoring unreadable state file %s: %s', self._path,
                      exc)
            return {}

    def _reason(self, uuid: str, value: Any) -> Reason | None:
        """A reason read back (a held failure's, a held report's); one
        this version does not know is dropped, for that instance only,
        with an ERROR."""
        if value is None:
            return None
        try:
            return Reason(value)
        except ValueError:
            LOG.error('Ignoring the reason %r of instance %s in the state '
                      'file %s: not one this version knows; nothing held '
                      'for it is reported',
                      value, uuid, self._path)
            return None

    def load_maintenance(self) -> set[str]:
        """Instances the operator excluded from monitoring."""
        value = self._read().get('maintenance', [])
        return {str(uuid) for uuid in value} if isinstance(value, list) \
            else set()

    def load_absent(self) -> dict[str, float]:
        """Since when (wall clock) remembered instances were not seen."""
        value = self._read().get('absent', {})
        try:
            return {str(uuid): float(since) for uuid, since in value.items()}
        except (AttributeError, TypeError, ValueError):
            return {}

    def _read(self) -> dict[str, Any]:
        try:
            raw = json.loads(self._path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            LOG.error('Ignoring unreadable state file %s: %s', self._path,
                      exc)
            return {}
        return raw if isinstance(raw, dict) else {}

    def save(self, records: dict[str, Remembered],
             maintenance: set[str] | frozenset[str] = frozenset(),
             absent: dict[str, float] | None = None) -> None:
        # Built by hand: dataclasses.asdict() costs ten times as much, and
        # this runs for thousands of instances on every report.
        doc = {'version': 1, 'maintenance': sorted(maintenance),
               'absent': absent or {},
               'instances': {uuid: {'domain_id': rec.domain_id,
                                    'answered': rec.answered,
                                    'reported': rec.reported,
                                    'known': rec.known,
                                    'reports': list(rec.reports),
                                    'limited': rec.limited,
                                    'held': _value(rec.held),
                                    'reason': _value(rec.reason)}
                             for uuid, rec in records.items()}}
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(self._path, json.dumps(doc).encode())
