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
``GET /v1/notifications?type=VM&generated-since=<its generated_time - 1 s>``
(plus ``source_host_uuid`` once a 202 named this host's), following
``marker`` pages (the last row's ``id``): a notification with the same instance and the same
generated time is that earlier attempt. The service sends whole-second
times, so the match is exact whatever the database keeps.
"""

import contextlib
import datetime
import json
from typing import Any, Protocol

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from oslo_log import log as logging

from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import NOTIFICATIONS_PATH
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.duplicate_window import parse_time

LOG = logging.getLogger(__name__)

# keystoneauth1's Adapter paces requests with a semaphore that waits until
# a wall-clock instant taken when the Adapter was built: after the wall clock
# stepped back, the next request slept for as long as the step (an hour's
# step: no notification for an hour). Requests here are not rate-limited, so
# every call passes a semaphore that never waits.
NO_PACING = contextlib.nullcontext()
# Enough of an error body to name the cause; the rest is not read.
MAX_MESSAGE = 2048
# A page of the notifications generated since one instant: a few at most.
MAX_LIST = 4 * 1024 * 1024
PAGE = 100        # notifications per page of the restart check
MAX_PAGES = 50    # then it says: cannot tell now


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


def _parse(stamp: str) -> datetime.datetime | None:
    """A naive UTC instant, whole seconds; None if not ISO 8601."""
    when = parse_time(stamp)
    return None if when is None else when.replace(microsecond=0)


def _same_time(a: str, b: str) -> bool:
    """Two ISO 8601 stamps for the same second (naive means UTC)."""
    parsed = _parse(a), _parse(b)
    if parsed[0] is None or parsed[1] is None:
        return a == b
    return parsed[0] == parsed[1]


def _since(stamp: str) -> str:
    """One second before ``stamp``, for ``generated-since``."""
    when = _parse(stamp)
    if when is None:
        return stamp
    return (when - datetime.timedelta(seconds=1)).isoformat()


def _matches(item: dict[str, Any], notification: Notification) -> bool:
    payload = item.get('payload')
    return isinstance(payload, dict) and \
        payload.get('instance_uuid') == notification.instance_uuid and \
        _same_time(str(item.get('generated_time', '')),
                   notification.generated_time)


class MasakariNotifier:
    """Sends one notification per call through a keystoneauth1 Adapter."""

    name = 'Masakari API'
    # A failure concerns the API, not one notification: logged once.
    outage_wide = True

    def __init__(self, poster: Poster) -> None:
        self._poster = poster
        self._host_uuid = ''   # this host in Masakari, once a 202 said

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
        params = {'type': 'VM', 'limit': PAGE,
                  'generated-since': _since(notification.generated_time)}
        if self._host_uuid:
            params['source_host_uuid'] = self._host_uuid
        for _ in range(MAX_PAGES):
            page = self._list(params)
            if isinstance(page, DeliveryResult):
                return page
            for item in page:
                if _matches(item, notification):
                    return DeliveryResult(
                        Delivery.DELIVERED, 200,
                        'Masakari has it as notification %s (status %s)' % (
                            item.get('notification_uuid'),
                            item.get('status')))
            if len(page) < PAGE:
                return None
            # masakari 22 takes the row's id as the marker
            params['marker'] = page[-1].get('id',
                                            page[-1].get('notification_uuid'))
        return DeliveryResult(Delivery.TRANSIENT, 200, 'more than %d pages '
                              'of notifications to look through'
                              % MAX_PAGES)

    def _list(self, params: dict[str, Any]
              ) -> list[dict[str, Any]] | DeliveryResult:
        """One page of notifications, or what kept us from reading it."""
        try:
            response = self._poster.get(
                NOTIFICATIONS_PATH, params=dict(params),
                raise_exc=False, stream=True, log=False,
                rate_semaphore=NO_PACING)
        except Exception as exc:
            return self._failure(exc)
        if response.status_code != 200:
            return DeliveryResult(
                Delivery.TRANSIENT, response.status_code,
                'cannot list notifications: %s' % _read_message(response))
        try:
            found = json.loads(_read_body(response, MAX_LIST))[
                'notifications']
            if not isinstance(found, list) or not all(
                    isinstance(item, dict) and 'generated_time' in item and
                    isinstance(item.get('payload'), dict) for item in found):
                raise TypeError('not a list of notifications')
        except Exception as exc:  # a short or odd list: ask again later
            return DeliveryResult(Delivery.TRANSIENT, response.status_code,
                                  'unexpected notification list: %s: %s' % (
                                      type(exc).__name__, exc))
        return found

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            response = self._poster.post(
                NOTIFICATIONS_PATH, json=notification.body(),
                raise_exc=False, stream=True, log=False,
                rate_semaphore=NO_PACING)
        except Exception as exc:
            return self._failure(exc)
        if 200 <= response.status_code < 300:
            self._learn_host(response)
            return DeliveryResult(Delivery.DELIVERED, response.status_code,
                                  '')
        message = _read_message(response)
        delivery = classify_status(response.status_code, message)
        return DeliveryResult(delivery, response.status_code, message)

    def _learn_host(self, response: HttpResponse) -> None:
        """Keep this host's uuid in Masakari from an accepted notification."""
        try:
            body = json.loads(_read_body(response, MAX_MESSAGE * 4))
            host_uuid = body['notification']['source_host_uuid']
        except Exception:  # the body is a courtesy: never fail on it
            return
        if isinstance(host_uuid, str) and host_uuid:
            self._host_uuid = host_uuid

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
