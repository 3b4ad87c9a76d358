"""Posting notifications to the Masakari API (the only keystoneauth1 user).

:class:`MasakariNotifier` makes one attempt and says what became of it; the
caller (the sender) decides about retries. It never raises.
"""

import json
from typing import Any, Protocol

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from oslo_log import log as logging

from masakari_introspect.model import Delivery
from masakari_introspect.model import DeliveryResult
from masakari_introspect.model import Notification
from masakari_introspect.model import NOTIFICATIONS_PATH

LOG = logging.getLogger(__name__)

# Enough of an error body to name the cause; the rest is not read.
MAX_MESSAGE = 2048


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
