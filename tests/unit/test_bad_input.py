"""Bad input gets a clear answer: unknown options, secrets, odd agent replies."""

import json
import logging
import threading

import pytest
from oslo_config import cfg

from masakari_introspect.conf import validate
from masakari_introspect.recovery.masakari import MasakariNotifier
from masakari_introspect.core.notification import Delivery, Notification
from masakari_introspect.core.model import Outcome
from masakari_introspect.virt.guest import parse_reply as _parse_reply
from tests.unit.fakes import Server, load

SECRET = 's3cr3t-Pa55w0rd-XYZ'
UUID = '0f8e3f5a-6c7e-4a43-9d36-5d1a3b5e2f10'


@pytest.fixture
def keystone():
    srv = Server()

    def respond(handler):
        if handler.command == 'GET':   # version discovery, as Keystone does
            href = f'http://127.0.0.1:{srv.server_address[1]}/v3/'
            handler.reply(200, json.dumps({'version': {
                'id': 'v3.14', 'status': 'stable',
                'links': [{'rel': 'self', 'href': href}]}}).encode())
        else:                          # POST /v3/auth/tokens: wrong password
            handler.reply(401, b'{"error": {"code": 401, "message": "The '
                               b'request you have made requires '
                               b'authentication."}}')

    srv.respond = respond
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_unknown_options_and_sections_are_named(tmp_path):
    conf = load(tmp_path, '[DEFAULT]\nhostt = x\n'
                '[introspection]\nprobe_intervall = 5\nprobe_timeout = 1\n'
                '[introspectiveinstancemonitor]\nguest_monitoring_interval = 4\n'
                '[callback]\nretry_max = 3\n'
                '[masakari]\nauth_type = password\nusername = admin\n'
                'usernme = admin\n')
    warnings = validate.unknown_options(conf)
    text = '\n'.join(warnings)
    assert 'unknown option [DEFAULT] hostt' in text
    assert 'unknown option [introspection] probe_intervall' in text
    assert 'section [callback] is not used' in text
    assert 'unknown option [masakari] usernme' in text
    # Known names, upstream aliases and the auth plugin's options are fine.
    assert 'probe_timeout' not in text
    assert 'guest_monitoring_interval' not in text
    assert '[masakari] username' not in text
    assert len(warnings) == 4


def test_credentials_never_reach_the_logs(tmp_path, keystone, caplog):
    conf = load(tmp_path, '[DEFAULT]\ndebug = true\n'
                '[masakari]\nauth_type = password\n'
                f'auth_url = http://127.0.0.1:{keystone.server_address[1]}/v3\n'
                'username = admin\nuser_domain_name = Default\n'
                'project_name = admin\nproject_domain_name = Default\n'
                f'password = {SECRET}\n')
    caplog.set_level(logging.DEBUG)
    conf.log_opt_values(logging.getLogger('test'), logging.DEBUG)
    result = MasakariNotifier.from_conf(conf).send(
        Notification.create(UUID, 'compute-1'))
    assert result.delivery is Delivery.REJECTED
    assert result.status == 401
    assert keystone.requests, 'the password plugin did not authenticate'
    posted = [r for r in keystone.requests if r.method == 'POST']
    assert SECRET.encode() in posted[0].body              # it was sent ...
    assert caplog.records                                 # ... logs exist ...
    assert SECRET not in caplog.text                      # ... without it
    assert SECRET not in result.message


@pytest.mark.parametrize('reply, outcome', [
    ('{"return": {}}', Outcome.OK),
    ('{"return": {}}\n', Outcome.OK),
    # Any reply comes from the agent: it is alive, whatever it says.
    ('not json at all', Outcome.AGENT_ERROR),
    ('{"error": {"class": "GenericError"}}', Outcome.AGENT_ERROR),
    ('[1, 2]', Outcome.AGENT_ERROR),
    ('', Outcome.AGENT_ERROR),
    (None, Outcome.AGENT_ERROR),
])
def test_agent_replies_are_parsed_without_trust(reply, outcome):
    result = _parse_reply(UUID, reply, 0.0)
    assert result.outcome is outcome
    assert result.uuid == UUID
    if outcome is Outcome.AGENT_ERROR:
        assert 'without "return"' in result.detail


def test_a_config_parse_error_is_a_cfg_error(tmp_path):
    with pytest.raises(cfg.Error):
        load(tmp_path, '[introspection\nprobe_interval = 5\n')
