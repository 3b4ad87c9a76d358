"""The Masakari notifier against a real HTTP server on loopback.

A real keystoneauth1 Session and Adapter (no auth, endpoint override) post to
a ThreadingHTTPServer on 127.0.0.1 port 0 whose answers each test scripts.
"""

import datetime
import json
import re
import socket
import threading

import pytest
from keystoneauth1 import adapter, noauth, session
from keystoneauth1 import exceptions as ksa_exc
from oslo_config import cfg

from masakari_introspect.conf import masakari as masakari_conf
from masakari_introspect.recovery.masakari import MAX_MESSAGE, MasakariNotifier, classify_status
from masakari_introspect.core.notification import Delivery, Notification
from tests.unit.fakes import Server

UUID = '0f2b3c4d-1111-2222-3333-444455556666'
HOST = 'compute-1.example.org'
HUGE = 50 * 1024 * 1024


@pytest.fixture
def server():
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def notifier_for(endpoint, timeout=5.0):
    sess = session.Session(auth=noauth.NoAuth(), timeout=timeout)
    return MasakariNotifier(adapter.Adapter(sess,
                                            endpoint_override=endpoint))


def notification():
    return Notification.create(UUID, HOST)


def json_reply(status, doc):
    return lambda h: h.reply(status, json.dumps(doc).encode())


# -- what is posted ----------------------------------------------------------

def test_posts_exactly_the_masakari_body(server):
    sent = notification()
    result = notifier_for(server.endpoint).send(sent)
    assert result.delivery is Delivery.DELIVERED
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.method == 'POST'
    assert request.path == '/v1/notifications'
    assert request.headers['Content-Type'].startswith('application/json')
    body = json.loads(request.body)
    assert body == {'notification': {
        'type': 'VM',
        'hostname': HOST,
        'generated_time': sent.generated_time,
        'payload': {
            'event': 'QEMU_GUEST_AGENT_ERROR',
            'instance_uuid': UUID,
            'vir_domain_event': 'STOPPED_FAILED',
        },
    }}


def test_generated_time_is_iso_utc_without_offset(server):
    before = datetime.datetime.now(datetime.timezone.utc)
    notifier_for(server.endpoint).send(notification())
    after = datetime.datetime.now(datetime.timezone.utc)
    stamp = json.loads(server.requests[0].body)['notification'][
        'generated_time']
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z?',
                        stamp), stamp
    parsed = datetime.datetime.fromisoformat(stamp.removesuffix('Z'))
    assert parsed.tzinfo is None
    parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(seconds=1) <= parsed
    assert parsed <= after + datetime.timedelta(seconds=1)


def test_create_converts_to_utc():
    when = datetime.datetime(2026, 11, 21, 18, 8, 46, 941896,
                             tzinfo=datetime.timezone(
                                 datetime.timedelta(hours=1)))
    n = Notification.create(UUID, HOST, when)
    # whole seconds: a database that drops microseconds gives it back as is
    assert n.generated_time == '2026-11-21T17:08:46'
    assert n.instance_uuid == UUID
    assert n.hostname == HOST
    assert n.id
    assert Notification.create(UUID, HOST, when).id != n.id


# -- what comes back ---------------------------------------------------------

def test_202_is_delivered(server):
    server.respond = json_reply(202, {'notification': {
        'notification_uuid': 'x', 'status': 'new'}})
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.DELIVERED
    assert result.status == 202
    assert result.delivery.done


def test_202_with_a_garbage_body_is_delivered(server):
    server.respond = lambda h: h.reply(202, b'\x00\xff<html>not json{',
                                       content_type='text/html')
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.DELIVERED
    assert result.status == 202


# The answers of masakari-api 22.0.0, read from a running server.
DUPLICATE_409 = {'conflictingRequest': {'code': 409, 'message':
                 'Notification received from host compute-1.example.org of '
                 'type VM is duplicate.'}}
MAINTENANCE_409 = {'conflictingRequest': {'code': 409, 'message':
                   "Notification received from host compute-1.example.org "
                   "of type 'VM' is ignored as the host is already under "
                   "maintenance."}}


def test_409_duplicate_is_done(server):
    server.respond = json_reply(409, DUPLICATE_409)
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.DUPLICATE
    assert result.delivery.done


def test_409_host_on_maintenance_is_not_delivery(server):
    server.respond = json_reply(409, MAINTENANCE_409)
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.MAINTENANCE
    assert result.status == 409
    assert not result.delivery.done
    assert 'maintenance' in result.message


def test_409_is_a_duplicate(server):
    server.respond = json_reply(409, {'conflictingRequest': {
        'code': 409, 'message': 'Notification received from host X of '
        'type VM is ignored as it is already under recovery'}})
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.DUPLICATE
    assert result.status == 409
    assert result.delivery.done
    assert 'already under recovery' in result.message


def test_400_is_rejected_with_masakari_message(server):
    server.respond = json_reply(400, {'badRequest': {
        'code': 400,
        'message': 'Host with name compute-1 could not be found.'}})
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.REJECTED
    assert result.status == 400
    assert result.message == 'Host with name compute-1 could not be found.'
    assert not result.delivery.done


@pytest.mark.parametrize('status', [401, 403])
def test_credentials_refused_is_rejected(server, status):
    server.respond = json_reply(status, {'error': {
        'code': status, 'message': 'The request you have made requires '
        'authentication.'}})
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.REJECTED
    assert result.status == status


@pytest.mark.parametrize('status', [500, 502, 503])
def test_server_errors_are_transient(server, status):
    server.respond = lambda h: h.reply(status, b'oops',
                                       content_type='text/plain')
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.TRANSIENT
    assert result.status == status
    assert result.message == 'oops'


def test_no_answer_within_the_timeout_is_transient(server):
    def hang(handler):
        server.release.wait(10)

    server.respond = hang
    result = notifier_for(server.endpoint, timeout=0.3).send(notification())
    assert result.delivery is Delivery.TRANSIENT
    assert result.status is None
    assert len(server.requests) == 1


def test_connection_refused_is_transient():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = notifier_for(f'http://127.0.0.1:{port}/v1').send(
        notification())
    assert result.delivery is Delivery.TRANSIENT
    assert result.status is None
    assert result.message


def test_a_huge_body_is_not_read_in_full(server):
    done = threading.Event()
    sent = []

    def flood(handler):
        handler.send_response(400)
        handler.send_header('Content-Type', 'text/plain')
        handler.send_header('Content-Length', str(HUGE))
        handler.end_headers()
        chunk = b'x' * 65536
        total = 0
        try:
            while total < HUGE and not server.release.is_set():
                handler.wfile.write(chunk)
                total += len(chunk)
        except OSError:
            pass
        finally:
            sent.append(total)
            done.set()

    server.respond = flood
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.REJECTED
    assert result.status == 400
    assert 0 < len(result.message) <= 300
    assert set(result.message) == {'x'}
    # The client hung up: the server could not push the 50 MB through.
    assert done.wait(10)
    assert sent[0] < HUGE, sent


def test_an_error_body_message_is_bounded(server):
    server.respond = json_reply(400, {'badRequest': {
        'code': 400, 'message': 'y' * 10000}})
    result = notifier_for(server.endpoint).send(notification())
    assert result.delivery is Delivery.REJECTED
    assert 0 < len(result.message) <= MAX_MESSAGE


# -- built from configuration ------------------------------------------------

def test_from_conf_with_no_auth_and_endpoint_override(server, tmp_path):
    path = tmp_path / 'masakari-introspect.conf'
    path.write_text('[masakari]\nauth_type = none\n'
                    f'endpoint_override = {server.endpoint}\ntimeout = 5\n')
    conf = cfg.ConfigOpts()
    masakari_conf.register_opts(conf)
    conf(['--config-file', str(path)], default_config_files=[])
    notifier = MasakariNotifier.from_conf(conf)
    result = notifier.send(notification())
    assert result.delivery is Delivery.DELIVERED
    assert [r.path for r in server.requests] == ['/v1/notifications']
    assert json.loads(server.requests[0].body)['notification'][
        'payload']['instance_uuid'] == UUID


# -- without a server: what the poster raises ---------------------------------

class RaisingPoster:
    def __init__(self, exc):
        self.exc = exc
        self.calls = 0

    def post(self, url, **kwargs):
        self.calls += 1
        raise self.exc


@pytest.mark.parametrize('exc,delivery,status', [
    (ksa_exc.EndpointNotFound('no instance-ha'), Delivery.REJECTED, None),
    (ksa_exc.Unauthorized('bad password'), Delivery.REJECTED, 401),
    (ksa_exc.ServiceUnavailable('keystone down'), Delivery.TRANSIENT, 503),
    (ksa_exc.ConnectFailure('refused'), Delivery.TRANSIENT, None),
    (ksa_exc.ConnectTimeout('slow'), Delivery.TRANSIENT, None),
    (RuntimeError('surprise'), Delivery.TRANSIENT, None),
])
def test_exceptions_never_escape(exc, delivery, status):
    poster = RaisingPoster(exc)
    result = MasakariNotifier(poster).send(notification())
    assert poster.calls == 1
    assert result.delivery is delivery
    assert result.status == status
    assert result.message


class BrokenBodyResponse:
    status_code = 500

    def __init__(self):
        self.headers = {}
        self.closed = False

    def iter_content(self, chunk_size):
        yield b'partial'
        raise ConnectionResetError('reset by peer')

    def close(self):
        self.closed = True


class StaticPoster:
    def __init__(self, response):
        self.response = response
        self.kwargs = None

    def post(self, url, **kwargs):
        self.url = url
        self.kwargs = kwargs
        return self.response


def test_a_broken_body_keeps_the_status_and_closes_the_response():
    response = BrokenBodyResponse()
    poster = StaticPoster(response)
    result = MasakariNotifier(poster).send(notification())
    assert result.delivery is Delivery.TRANSIENT
    assert result.status == 500
    assert 'unreadable' in result.message
    assert response.closed
    assert poster.url == '/notifications'
    assert poster.kwargs['raise_exc'] is False
    assert poster.kwargs['stream'] is True


@pytest.mark.parametrize('status,delivery', [
    (200, Delivery.DELIVERED), (201, Delivery.DELIVERED),
    (202, Delivery.DELIVERED), (409, Delivery.DUPLICATE),
    (400, Delivery.REJECTED), (401, Delivery.REJECTED),
    (403, Delivery.REJECTED), (404, Delivery.REJECTED),
    (406, Delivery.REJECTED), (408, Delivery.TRANSIENT),
    (429, Delivery.TRANSIENT), (500, Delivery.TRANSIENT),
    (503, Delivery.TRANSIENT), (504, Delivery.TRANSIENT),
])
def test_classify_status(status, delivery):
    assert classify_status(status) is delivery


def test_done_means_delivered_duplicate_or_unrecoverable():
    assert {d for d in Delivery if d.done} == {
        Delivery.DELIVERED, Delivery.DUPLICATE, Delivery.UNRECOVERABLE}


# -- settled: did an earlier attempt arrive? -----------------------------------

def listed(sent, **changes):
    item = {'notification_uuid': 'n-1', 'status': 'new', 'type': 'VM',
            'generated_time': sent.generated_time,
            'source_host_uuid': 'h-1',
            'payload': {'event': 'QEMU_GUEST_AGENT_ERROR',
                        'instance_uuid': sent.instance_uuid,
                        'vir_domain_event': 'STOPPED_FAILED'}}
    item.update(changes)
    return item


def test_settled_asks_for_notifications_since_its_generated_time(server):
    sent = notification()
    server.respond = json_reply(200, {'notifications': [listed(sent)]})
    result = notifier_for(server.endpoint).settled(sent, '')
    assert result is not None
    assert result.delivery is Delivery.DELIVERED
    assert 'n-1' in result.message
    request = server.requests[0]
    assert request.method == 'GET'
    path, _, query = request.path.partition('?')
    assert path == '/v1/notifications'
    from urllib.parse import parse_qs
    since = datetime.datetime.fromisoformat(sent.generated_time) - \
        datetime.timedelta(seconds=1)
    assert parse_qs(query) == {'generated-since': [since.isoformat()],
                               'type': ['VM'], 'limit': ['100']}


def query_of(request):
    from urllib.parse import parse_qs
    return parse_qs(request.path.partition('?')[2])


def test_settled_follows_marker_pages(server):
    sent = notification()
    others = [listed(sent, notification_uuid='o-%d' % i, id=i,
                     generated_time='2020-01-01T00:00:00')
              for i in range(100)]
    pages = [{'notifications': others}, {'notifications': [listed(sent)]}]
    server.respond = lambda h: h.reply(200, json.dumps(pages.pop(0)).encode())
    result = notifier_for(server.endpoint).settled(sent, '')
    assert result is not None and result.delivery is Delivery.DELIVERED
    # masakari 22 takes the row's id as the marker
    assert [query_of(r).get('marker') for r in server.requests] == [
        None, ['99']]


def test_settled_asks_for_this_host_once_a_202_named_it(server):
    sent = notification()
    notifier = notifier_for(server.endpoint)
    server.respond = json_reply(202, {'notification': {
        'notification_uuid': 'n-1', 'source_host_uuid': 'h-1'}})
    assert notifier.send(sent).delivery is Delivery.DELIVERED
    server.respond = json_reply(200, {'notifications': []})
    assert notifier.settled(sent, '') is None
    assert query_of(server.requests[-1])['source_host_uuid'] == ['h-1']


def test_settled_without_a_202_lists_every_host(server):
    server.respond = json_reply(200, {'notifications': []})
    assert notifier_for(server.endpoint).settled(notification(), '') is None
    assert 'source_host_uuid' not in query_of(server.requests[0])


@pytest.mark.parametrize('other', [
    {'generated_time': '2020-01-01T00:00:00.000000'},
    {'payload': {'event': 'QEMU_GUEST_AGENT_ERROR',
                 'instance_uuid': '99999999-1111-2222-3333-444455556666',
                 'vir_domain_event': 'STOPPED_FAILED'}},
])
def test_settled_is_none_when_not_there(server, other):
    sent = notification()
    server.respond = json_reply(200, {'notifications': [listed(sent, **other)]})
    assert notifier_for(server.endpoint).settled(sent, '') is None


def test_settled_matches_the_time_whatever_its_spelling(server):
    sent = Notification(UUID, HOST, '2026-11-21T17:08:46', 'x')
    server.respond = json_reply(200, {'notifications': [
        listed(sent, generated_time='2026-11-21T17:08:46.000000')]})
    assert notifier_for(server.endpoint).settled(sent, '') is not None


@pytest.mark.parametrize('respond', [
    lambda h: h.reply(503, b'down', content_type='text/plain'),
    lambda h: h.reply(200, b'{"notifications": [{"oops": 1}]}'),
    lambda h: h.reply(200, b'<html>'),
])
def test_settled_cannot_tell_is_transient(server, respond):
    server.respond = respond
    result = notifier_for(server.endpoint).settled(notification(), '')
    assert result is not None
    assert result.delivery is Delivery.TRANSIENT


def test_settled_without_a_server_is_transient():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = notifier_for(f'http://127.0.0.1:{port}/v1').settled(
        notification(), '')
    assert result is not None
    assert result.delivery is Delivery.TRANSIENT
    assert result.status is None



# -- a backward step of the wall clock ---------------------------------------------

def test_a_backward_wall_clock_step_does_not_hold_the_post(server):
    """keystoneauth1's Adapter paces requests against a wall-clock instant
    taken when it was built; an Adapter built "an hour later" than now is
    what a backward step of one hour makes of it. The POST must not wait
    for the wall clock to catch up."""
    notifier = notifier_for(server.endpoint)
    pacing = notifier._poster._rate_semaphore
    pacing._rate_last_ts += 3600.0           # the clock went back an hour
    done = []
    worker = threading.Thread(
        target=lambda: done.append(notifier.send(notification())),
        daemon=True)
    worker.start()
    worker.join(10.0)
    assert done and done[0].delivery is Delivery.DELIVERED
    assert len(server.requests) == 1
