"""Posting notifications to the Masakari API (the only keystoneauth1 user).

:class:`MasakariNotifier` makes one attempt and says what became of it; the
caller (the sender) decides about retries. It never raises.
"""

import dataclasses
import datetime
import enum
import json
import logging
import uuid as uuidlib
from typing import Any, Protocol

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

LOG = logging.getLogger(__name__)

NOTIFICATIONS_PATH = '/notifications'
EVENT = 'QEMU_GUEST_AGENT_ERROR'
VIR_DOMAIN_EVENT = 'STOPPED_FAILED'
# Enough of an error body to name the cause; the rest is not read.
MAX_MESSAGE = 2048


@dataclasses.dataclass(frozen=True)
class Notification:
    """A decided report of one failed instance, as sent to Masakari."""

    instance_uuid: str
    hostname: str
    generated_time: str
    id: str = ''

    @classmethod
    def create(cls, instance_uuid: str, hostname: str,
               when: datetime.datetime | None = None) -> 'Notification':
        when = when or datetime.datetime.now(datetime.timezone.utc)
        stamp = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return cls(instance_uuid=instance_uuid, hostname=hostname,
                   generated_time=stamp.isoformat(),
                   id=str(uuidlib.uuid4()))

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
    DELIVERED = 'delivered'    # 2xx: accepted
    DUPLICATE = 'duplicate'    # 409: already there (or host in maintenance)
    REJECTED = 'rejected'      # 400, 401, 403, ...: fix the configuration
    TRANSIENT = 'transient'    # 5xx, timeout, connection: try again

    @property
    def done(self) -> bool:
        return self in (Delivery.DELIVERED, Delivery.DUPLICATE)


@dataclasses.dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    status: int | None
    message: str


class HttpResponse(Protocol):
    status_code: int
    headers: Any

    def iter_content(self, chunk_size: int) -> Any:
        ...

    def close(self) -> None:
        ...


class Poster(Protocol):
    """What the notifier needs of a keystoneauth1 Adapter."""

    def post(self, url: str, **kwargs: Any) -> HttpResponse:
        ...


def classify_status(status: int) -> Delivery:
    if 200 <= status < 300:
        return Delivery.DELIVERED
    if status == 409:
        return Delivery.DUPLICATE
    if status in (408, 429) or status >= 500:
        return Delivery.TRANSIENT
    return Delivery.REJECTED


def _read_message(response: HttpResponse) -> str:
    """The server's explanation, read with a bound whatever it sends."""
    raw = b''
    try:
        for chunk in response.iter_content(chunk_size=MAX_MESSAGE):
            raw += chunk
            if len(raw) >= MAX_MESSAGE:
                break
    except Exception as exc:  # a broken body must not hide the status
        return '(unreadable body: %s)' % exc
    finally:
        response.close()
    text = raw[:MAX_MESSAGE].decode('utf-8', errors='replace')
    try:
        doc = json.loads(text)
    except ValueError:
        return ' '.join(text.split())[:300]
    return _explain(doc) or ' '.join(text.split())[:300]


def _explain(doc: Any) -> str:
    """Masakari wraps errors as {"badRequest": {"message": ...}} etc."""
    if isinstance(doc, dict):
        for value in doc.values():
            if isinstance(value, dict) and 'message' in value:
                return str(value['message'])[:300]
    return ''


class MasakariNotifier:
    """Sends one notification per call through a keystoneauth1 Adapter."""

    def __init__(self, poster: Poster) -> None:
        self._poster = poster

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts,
                  group: str = 'masakari') -> 'MasakariNotifier':
        auth = ks_loading.load_auth_from_conf_options(conf, group)
        session = ks_loading.load_session_from_conf_options(
            conf, group, auth=auth)
        adapter = ks_loading.load_adapter_from_conf_options(
            conf, group, session=session, auth=auth)
        return cls(adapter)

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            response = self._poster.post(
                NOTIFICATIONS_PATH, json=notification.body(),
                raise_exc=False, stream=True, log=False)
        except ksa_exc.EndpointNotFound as exc:
            return DeliveryResult(Delivery.REJECTED, None,
                                  'no instance-ha endpoint: %s' % exc)
        except ksa_exc.HttpError as exc:
            # Raised while authenticating, e.g. wrong credentials.
            status = getattr(exc, 'http_status', None)
            return DeliveryResult(classify_status(status or 500), status,
                                  'authentication failed: %s' % exc)
        except ksa_exc.ClientException as exc:
            return DeliveryResult(Delivery.TRANSIENT, None,
                                  '%s: %s' % (type(exc).__name__, exc))
        except Exception as exc:
            LOG.exception('Unexpected error while posting a notification')
            return DeliveryResult(Delivery.TRANSIENT, None,
                                  '%s: %s' % (type(exc).__name__, exc))
        delivery = classify_status(response.status_code)
        message = _read_message(response)
        return DeliveryResult(delivery, response.status_code, message)
