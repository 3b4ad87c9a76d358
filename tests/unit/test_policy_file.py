"""[introspection] policy_file at start (one line naming the rule and the
key, exit 2) and on SIGHUP (a broken file keeps the running policy, one
ERROR)."""

import logging

import pytest

from masakari_introspect.conf import policy_file
from masakari_introspect.conf import validate
from tests.unit.fakes import load
from tests.unit.test_start_errors import NO_AUTH
from tests.unit.test_start_errors import one_line
from tests.unit.test_start_errors import run_main

GOOD = 'rules:\n  - match: {flavor: "ha.*"}\n    failure_threshold: 2\n'
UNKNOWN_KEY = 'rules:\n  - match: {flavor: "ha.*"}\n    failur_threshold: 2\n'


def conf_with(tmp_path, text, interval=10):
    path = tmp_path / 'policy.yaml'
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    return load(tmp_path, NO_AUTH + '[introspection]\npolicy_file = %s\n'
                'probe_interval = %d\n' % (path, interval)), path


def start_error(tmp_path, text, interval=10):
    conf, path = conf_with(tmp_path, text, interval)
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith('[introspection] policy_file: ')
    assert str(path) in message
    return message


def test_a_good_file_passes_the_start_up_check(tmp_path):
    conf, path = conf_with(tmp_path, GOOD)
    assert validate.check(conf) == []
    rules = policy_file.load(str(path), 10)
    assert [r.name for r in rules.rules] == ['rule 1 (flavor=ha.*)']


def test_no_file_no_rules():
    assert policy_file.load(None, 10).rules == ()


@pytest.mark.parametrize('text,expected', [
    (UNKNOWN_KEY, "rule 1 (flavor=ha.*): unknown key 'failur_threshold'"),
    ('rules:\n  - match: {flavor: "ha.*"}\n    probe_interval: 25\n',
     'rule 1 (flavor=ha.*): probe_interval: must be a whole multiple of '
     '[introspection] probe_interval (10), not 25'),
    ('rules: [\n  - match', 'is not valid YAML: '),
    (b'rules: [\xff\xfe]', 'is not valid YAML: '),
    ('just words', 'the file must hold a mapping with the key "rules", not '
     'a str'),
    (None, 'cannot read '),
])
def test_a_bad_file_stops_the_start_with_one_line(tmp_path, text, expected):
    assert expected in start_error(tmp_path, text)


def test_main_exits_2_naming_the_rule_and_the_key(tmp_path):
    path = tmp_path / 'policy.yaml'
    path.write_text(UNKNOWN_KEY)
    line = one_line(run_main(tmp_path, NO_AUTH + '[introspection]\n'
                             'policy_file = %s\n' % path))
    assert line == ("masakari-introspect: [introspection] policy_file: %s: "
                    "rule 1 (flavor=ha.*): unknown key 'failur_threshold' "
                    "(known: match, probe_interval, failure_threshold, "
                    "agent_loss, monitor, probes)" % path)


def test_a_broken_file_on_reload_keeps_the_running_policy(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / 'policy.yaml'
    path.write_text(UNKNOWN_KEY)
    assert policy_file.reload(str(path), 10) is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        'Policy file not reloaded on SIGHUP, the running policy is kept: '
        "[introspection] policy_file: %s: rule 1 (flavor=ha.*): unknown key "
        "'failur_threshold' (known: match, probe_interval, "
        "failure_threshold, agent_loss, monitor, probes)" % path]
    caplog.clear()
    path.write_text(GOOD)
    rules = policy_file.reload(str(path), 10)
    assert rules is not None and len(rules.rules) == 1
    assert [r.getMessage() for r in caplog.records] == [
        'Policy file %s reloaded on SIGHUP: 1 rule(s)' % path]


def test_no_file_nothing_to_reload(caplog):
    assert policy_file.reload(None, 10) is None
    assert caplog.records == []
