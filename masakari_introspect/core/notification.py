"""A report of one failed instance and what became of its delivery.

The core decides a :class:`Notification`; the recovery drivers carry it
out (post it to Masakari, act on the domain, run a command) and say what
became of each attempt as a :class:`DeliveryResult`, whose
:class:`Delivery` tells the sender whether the spooled entry is done.

Only frozen dataclasses and enums live here; no I/O, no HTTP.
"""

import dataclasses
import datetime
import enum
import uuid as uuidlib
from typing import Any

NOTIFICATIONS_PATH = '/notifications'
EVENT = 'QEMU_GUEST_AGENT_ERROR'
VIR_DOMAIN_EVENT = 'STOPPED_FAILED'


@dataclasses.dataclass(frozen=True)
class Notification:
    """A decided report of one failed instance, as sent to Masakari.

    ``hostname`` is the host named when the report was decided; the sender
    replaces it by its configured host when sending. ``instance_name``,
    ``reason`` (e.g. 'unresponsive', 'crashed', 'watchdog') and
    ``forensics`` (a folder) are for the local recovery drivers and the
    logs; they are never part of the body posted to Masakari.
    """

    instance_uuid: str
    hostname: str
    generated_time: str
    id: str = ''
    instance_name: str = ''
    reason: str = ''
    forensics: str = ''

    @classmethod
    def create(cls, instance_uuid: str, hostname: str,
               when: datetime.datetime | None = None, *,
               instance_name: str = '', reason: str = '',
               forensics: str = '') -> 'Notification':
        when = when or datetime.datetime.now(datetime.timezone.utc)
        # Whole seconds: a database that drops microseconds still gives
        # back exactly the stamp sent (the restart check matches on it).
        stamp = when.astimezone(datetime.timezone.utc).replace(
            tzinfo=None, microsecond=0)
        return cls(instance_uuid=instance_uuid, hostname=hostname,
                   generated_time=stamp.isoformat(),
                   id=str(uuidlib.uuid4()), instance_name=instance_name,
                   reason=reason, forensics=forensics)

    def body(self) -> dict[str, Any]:
        return {'notification': {
            'type': 'VM',
            'hostname': self.hostname,
            'generated_time': self.generated_time,
            'payload': {
                'event': EVENT,
                'instance_uuid': self.instance_uuid,
                'vir_domain_event': VIR_DOMAIN_EVENT,
            },
        }}


class Delivery(enum.Enum):
    """What became of one attempt to act on a notification."""

    DELIVERED = 'delivered'    # 2xx, or the local action succeeded
    DUPLICATE = 'duplicate'    # 409 duplicate: Masakari already has it
    MAINTENANCE = 'maintenance'  # 409, host on maintenance: wait, resend
    REJECTED = 'rejected'      # 400, 401, 403, ...: fix the configuration
    TRANSIENT = 'transient'    # 5xx, timeout, connection, failed hook: retry
    UNRECOVERABLE = 'unrecoverable'  # cannot be done at all: the entry ends

    @property
    def done(self) -> bool:
        """Nothing more to do: the entry leaves the spool."""
        return self in (Delivery.DELIVERED, Delivery.DUPLICATE,
                        Delivery.UNRECOVERABLE)


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    status: int | None
    message: str
