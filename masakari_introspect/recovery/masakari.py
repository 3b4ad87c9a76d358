"""Posting notifications to the Masakari API (the only keystoneauth1 user).

:class:`MasakariNotifier` is the ``masakari`` recovery driver: it makes one
attempt and says what became of it; the caller (the sender) decides about
retries. It never raises.

A 409 means either a duplicate (Masakari has it: done) or a host on
maintenance (not delivered: send again later); masakari 22.0.0 tells them
apart only in the message, "... is duplicate." versus "... is ignored as the
host is already under maintenance.".

Before sending again a notification whose earlier attempt may have been
accepted (e.g. the monitor was killed between the 202 and the removal of the
spool entry), :meth:`MasakariNotifier.settled` looks it up with
``GET /v1/notifications?generated-since=<its generated_time>&type=VM``: a
notification with the same instance and the same generated time is that
earlier attempt.
"""

import datetime
import json
from typing import Any, Protocol

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from oslo_log import log as logging

from masakari_introspect.core.model import Delivery
from masakari_introspect.core.model import DeliveryResult
from masakari_introspect.core.model import Notification
from masakari_introspect.core.model import NOTIFICATIONS_PATH

LOG = logging.getLogger(__name__)

# Enough of an error body to name the cause; the rest is not read.
MAX_MESSAGE = 2048
# A list of the notifications generated since one instant: a few at most.
MAX_LIST = 4 * 1024 * 1024


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

    def get(self, url: str, **kwargs: Any) -> HttpResponse:
        ...


def classify_status(status: int, message: str = '') -> Delivery:
    if 200 <= status < 300:
        return Delivery.DELIVERED
    if status == 409:
        if 'maintenance' in message.lower():
            return Delivery.MAINTENANCE
        return Delivery.DUPLICATE
    if status in (408, 429) or status >= 500:
        return Delivery.TRANSIENT
    return Delivery.REJECTED


def _read_body(response: HttpResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body; the response is closed."""
    raw = b''
    try:
        for chunk in response.iter_content(chunk_size=min(limit, 65536)):
            raw += chunk
            if len(raw) >= limit:
                break
    finally:
        response.close()
    return raw[:limit]


def _read_message(response: HttpResponse) -> str:
    """The server's explanation, read with a bound whatever it sends."""
    try:
        raw = _read_body(response, MAX_MESSAGE)
    except Exception as exc:  # a broken body must not hide the status
        return '(unreadable body: %s)' % exc
    text = raw.decode('utf-8', errors='replace')
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


def _same_time(a: str, b: str) -> bool:
    """Two ISO 8601 stamps for the same instant (naive means UTC)."""
    try:
        parsed = [datetime.datetime.fromisoformat(t.removesuffix('Z'))
                  for t in (a, b)]
    except ValueError:
        return a == b
    return parsed[0].replace(tzinfo=None) == parsed[1].replace(tzinfo=None)


class MasakariNotifier:
    """Sends one notification per call through a keystoneauth1 Adapter."""

    name = 'Masakari API'

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

    def begin(self, notification: Notification) -> str:
        return ''

    def settled(self, notification: Notification,
                token: str) -> DeliveryResult | None:
        """Whether Masakari already has this very notification."""
        try:
            response = self._poster.get(
                NOTIFICATIONS_PATH, params={
                    'generated-since': notification.generated_time,
                    'type': 'VM'},
                raise_exc=False, stream=True, log=False)
        except Exception as exc:
            return self._failure(exc)
        if response.status_code != 200:
            return DeliveryResult(
                Delivery.TRANSIENT, response.status_code,
                'cannot list notifications: %s' % _read_message(response))
        try:
            found = json.loads(_read_body(response, MAX_LIST))[
                'notifications']
            for item in found:
                if item['payload']['instance_uuid'] == \
                        notification.instance_uuid and _same_time(
                            item['generated_time'],
                            notification.generated_time):
                    return DeliveryResult(
                        Delivery.DELIVERED, response.status_code,
                        'Masakari has it as notification %s (status %s)' % (
                            item.get('notification_uuid'),
                            item.get('status')))
        except Exception as exc:  # a short or odd list: ask again later
            return DeliveryResult(Delivery.TRANSIENT, response.status_code,
                                  'unexpected notification list: %s: %s' % (
                                      type(exc).__name__, exc))
        return None

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            response = self._poster.post(
                NOTIFICATIONS_PATH, json=notification.body(),
                raise_exc=False, stream=True, log=False)
        except Exception as exc:
            return self._failure(exc)
        message = _read_message(response)
        delivery = classify_status(response.status_code, message)
        return DeliveryResult(delivery, response.status_code, message)

    @staticmethod
    def _failure(exc: Exception) -> DeliveryResult:
        """What a request that raised means for the delivery."""
        if isinstance(exc, ksa_exc.EndpointNotFound):
            return DeliveryResult(Delivery.REJECTED, None,
                                  'no instance-ha endpoint: %s' % exc)
        if isinstance(exc, ksa_exc.HttpError):
            # Raised while authenticating, e.g. wrong credentials.
            status = getattr(exc, 'http_status', None)
            return DeliveryResult(classify_status(status or 500), status,
                                  'authentication failed: %s' % exc)
        if not isinstance(exc, ksa_exc.ClientException):
            LOG.error('Unexpected error while talking to Masakari',
                      exc_info=exc)
        return DeliveryResult(Delivery.TRANSIENT, None,
                              '%s: %s' % (type(exc).__name__, exc))
