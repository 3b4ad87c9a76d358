"""The policy file's rules and a domain's <policy> metadata (issue 20):
checked (every kind of fault, with its message), matched, applied."""

import dataclasses

import pytest
import yaml

from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.model import ProbeElement
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.rules import PolicyError
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import metadata_overrides
from masakari_introspect.core.rules import parse_rules
from masakari_introspect.core.rules import policy_for

BASE = Policy(probe_interval=10.0, failure_threshold=3)
UUID = '0f4c5d3e-1111-2222-3333-444455556666'
EXAMPLE = """
rules:
  - match: {flavor: "ha.*"}
    probe_interval: 20
    failure_threshold: 3
    agent_loss: report
    probes:
      - name: web
        exec: ["/usr/bin/curl", "-fsS", "http://127.0.0.1/health"]
        timeout: 5
        every: 2
        threshold: 3
        on_failure: report
  - match: {name: "scratch-*"}
    monitor: false
"""


def guest(name='vm-a', uuid=UUID, display_name=None, flavor=None,
          project=None, policy=None):
    return DomainInfo(uuid, name, True, True, 1, display_name=display_name,
                      flavor=flavor, project=project, policy=policy)


def rules_of(text, interval=10.0):
    return parse_rules(yaml.safe_load(text), interval)


def error_of(text, interval=10.0):
    with pytest.raises(PolicyError) as info:
        rules_of(text, interval)
    message = str(info.value)
    assert '\n' not in message
    return message


# -- the issue's example ---------------------------------------------------------


def test_the_example_of_the_issue_is_read_in_full():
    rules = rules_of(EXAMPLE)
    ha, scratch = rules.rules
    assert ha.name == 'rule 1 (flavor=ha.*)'
    assert ha.overrides.probe_interval == 20.0
    assert ha.overrides.failure_threshold == 3
    assert ha.overrides.agent_loss is AgentLoss.REPORT
    assert ha.overrides.monitor is None
    assert ha.overrides.probes == (AppProbe(
        'web', ('/usr/bin/curl', '-fsS', 'http://127.0.0.1/health'),
        timeout=5.0, every=2, threshold=3, on_failure=OnFailure.REPORT),)
    assert scratch.name == 'rule 2 (name=scratch-*)'
    assert scratch.overrides.monitor is False


def test_a_matching_rule_derives_the_policy_from_the_configuration():
    policy, errors = policy_for(BASE, rules_of(EXAMPLE),
                                guest(flavor='ha.large'))
    assert errors == []
    assert policy == dataclasses.replace(
        BASE, probe_interval=20.0, agent_loss=AgentLoss.REPORT,
        probes=policy.probes, rule='rule 1 (flavor=ha.*)')
    assert policy.probes[0].name == 'web'
    assert policy.window == 60.0


def test_no_rule_no_metadata_is_the_configuration_itself():
    policy, errors = policy_for(BASE, rules_of(EXAMPLE), guest())
    assert policy is BASE and errors == []
    assert policy_for(BASE, Rules(), guest(flavor='ha.1'))[0] is BASE


# -- matching ----------------------------------------------------------------------


@pytest.mark.parametrize('key,pattern,fits,misses', [
    ('name', 'web-*', guest(name='web-1'), guest(name='db-1')),
    ('display_name', 'Shop ?', guest(display_name='Shop A'),
     guest(display_name='Shop AB')),
    ('uuid', '0F4C5D3E-*', guest(), guest(uuid='1' + UUID[1:])),
    ('flavor', 'ha.[sm]*', guest(flavor='ha.small'),
     guest(flavor='ha.large')),
    ('project', 'abc*', guest(project='abc123'), guest(project='xabc')),
])
def test_each_match_key_is_an_fnmatch_pattern(key, pattern, fits, misses):
    rules = parse_rules({'rules': [{'match': {key: pattern},
                                    'failure_threshold': 2}]}, 10.0)
    assert policy_for(BASE, rules, fits)[0].failure_threshold == 2
    assert policy_for(BASE, rules, misses)[0].failure_threshold == 3


def test_the_first_matching_rule_wins():
    rules = rules_of("""
rules:
  - match: {name: "vm-*", flavor: "ha.*"}
    failure_threshold: 1
  - match: {name: "vm-*"}
    failure_threshold: 2
  - match: {}
    failure_threshold: 5
""")
    assert policy_for(BASE, rules, guest(flavor='ha.1'))[0].rule == \
        'rule 1 (name=vm-*, flavor=ha.*)'
    assert policy_for(BASE, rules, guest(flavor='m1'))[0].failure_threshold \
        == 2
    other = policy_for(BASE, rules, guest(name='db'))[0]
    assert other.failure_threshold == 5
    assert other.rule == 'rule 3 (every guest)'


def test_a_guest_without_nova_metadata_matches_only_on_name_and_uuid():
    rules = parse_rules({'rules': [
        {'match': {'display_name': '*'}, 'failure_threshold': 1},
        {'match': {'flavor': '*'}, 'failure_threshold': 1},
        {'match': {'project': '*'}, 'failure_threshold': 1},
        {'match': {'uuid': '*', 'name': 'vm-*'}, 'failure_threshold': 2}]},
        10.0)
    policy = policy_for(BASE, rules, guest())[0]
    assert policy.failure_threshold == 2
    assert policy.rule.startswith('rule 4 ')


# -- faults of the file: one line naming the rule and the key ------------------------


@pytest.mark.parametrize('text,expected', [
    ('[1, 2]', 'the file must hold a mapping with the key "rules", not a '
     'list'),
    ('rule: []', "unknown key 'rule' at the top (only \"rules\")"),
    ('rules: {}', '"rules" must be a list, not a dict'),
    ('rules: [3]', 'rule 1: must be a mapping (match and settings), not an '
     'int'),
    ('rules: [{match: {}, monitor: null}]', 'rule 1 (every guest): monitor: '
     'must be true or false, not None'),
    ('rules: [{failure_threshold: 2}]', 'rule 1: no "match" (write "match: '
     '{}" for every guest)'),
    ('rules: [{match: "ha.*"}]', 'rule 1: match: must be a mapping of name, '
     'display_name, uuid, flavor, project to patterns, not a str'),
    ('rules: [{match: {flavour: "ha.*"}}]', "rule 1: match: unknown key "
     "'flavour' (known: name, display_name, uuid, flavor, project)"),
    ('rules: [{match: {flavor: [a]}}]', 'rule 1: match: flavor: must be a '
     'pattern (a string), not a list'),
    ('rules: [{match: {}}, {match: {flavor: "ha.*"}, failur_threshold: 2}]',
     "rule 2 (flavor=ha.*): unknown key 'failur_threshold' (known: match, "
     "probe_interval, failure_threshold, agent_loss, monitor, probes)"),
    ('rules: [{match: {}, failure_threshold: 0}]', 'rule 1 (every guest): '
     'failure_threshold: must be at least 1, not 0'),
    ('rules: [{match: {}, failure_threshold: "3"}]', 'rule 1 (every guest): '
     "failure_threshold: must be a whole number, not '3'"),
    ('rules: [{match: {}, failure_threshold: true}]', 'rule 1 (every guest): '
     'failure_threshold: must be a whole number, not True'),
    ('rules: [{match: {}, probe_interval: 15}]', 'rule 1 (every guest): '
     'probe_interval: must be a whole multiple of [introspection] '
     'probe_interval (10), not 15'),
    ('rules: [{match: {}, probe_interval: 2.5}]', 'rule 1 (every guest): '
     'probe_interval: must be a whole number, not 2.5'),
    ('rules: [{match: {}, agent_loss: ignore}]', 'rule 1 (every guest): '
     "agent_loss: must be one of warn, report, not 'ignore'"),
    ('rules: [{match: {}, monitor: "off"}]', 'rule 1 (every guest): '
     "monitor: must be true or false, not 'off'"),
    ('rules: [{match: {}, probes: {name: a}}]', 'rule 1 (every guest): '
     'probes: must be a list, not a dict'),
])
def test_a_bad_file_names_the_rule_and_the_key(text, expected):
    assert error_of(text) == expected


@pytest.mark.parametrize('probe,expected', [
    ('{exec: [/bin/true]}', "probe 1: no 'name'"),
    ('{name: web}', "probe 1 (web): no 'exec'"),
    ('{name: "we b", exec: [/bin/true]}', 'probe 1 (we b): name: must be '
     'letters, digits, "_", "." or "-" (at most 64), not \'we b\''),
    ('{name: web, exec: /bin/true}', 'probe 1 (web): exec: must be a list '
     "of strings, the command and its arguments (quote numbers), not "
     "'/bin/true'"),
    ('{name: web, exec: [sleep, 5]}', 'probe 1 (web): exec: must be a list '
     "of strings, the command and its arguments (quote numbers), not "
     "['sleep', 5]"),
    ('{name: web, exec: [""]}', 'probe 1 (web): exec: the command is empty'),
    ('{name: web, exec: [/bin/true], timeout: 0}', 'probe 1 (web): timeout: '
     'must be above 0 and at most 3600 seconds, not 0'),
    ('{name: web, exec: [/bin/true], timeout: soon}', 'probe 1 (web): '
     "timeout: must be a number of seconds, not 'soon'"),
    ('{name: web, exec: [/bin/true], every: 0}', 'probe 1 (web): every: must '
     'be at least 1, not 0'),
    ('{name: web, exec: [/bin/true], threshold: -1}', 'probe 1 (web): '
     'threshold: must be at least 1, not -1'),
    ('{name: web, exec: [/bin/true], on_failure: page}', 'probe 1 (web): '
     "on_failure: must be one of report, warn, not 'page'"),
    ('{name: web, exec: [/bin/true], retries: 2}', "probe 1 (web): unknown "
     "key 'retries' (known: name, exec, timeout, every, threshold, "
     "on_failure)"),
    ('[web]', 'probe 1: must be a mapping, not a list'),
])
def test_a_bad_probe_names_the_rule_the_probe_and_the_key(probe, expected):
    text = 'rules:\n  - match: {flavor: "ha.*"}\n    probes: [%s]\n' % probe
    assert error_of(text) == 'rule 1 (flavor=ha.*): probes: ' + expected


def test_two_probes_of_one_name_are_refused():
    text = ('rules: [{match: {}, probes: [{name: a, exec: [x]}, '
            '{name: a, exec: [y]}]}]')
    assert error_of(text) == ('rule 1 (every guest): probes: probe 2 (a): '
                              'the name is used twice')


def test_a_multiple_of_a_shorter_configured_interval_is_fine():
    rules = rules_of('rules: [{match: {}, probe_interval: 15}]', 5.0)
    assert rules.rules[0].overrides.probe_interval == 15.0


def test_an_empty_file_and_an_empty_list_have_no_rules():
    assert rules_of('') == Rules()
    assert rules_of('rules:') == Rules()
    assert rules_of('rules: []') == Rules()


# -- a domain's own metadata ------------------------------------------------------


def element(probes=(), unknown=(), **settings):
    return PolicyElement(tuple(settings.items()), tuple(probes),
                         tuple(unknown))


def test_metadata_overrides_the_rule():
    rules = rules_of(EXAMPLE)
    info = guest(flavor='ha.1', policy=element(
        monitor='false', failure_threshold='2', probe_interval='30',
        agent_loss='warn', probes=[ProbeElement(
            (('name', 'db'), ('timeout', '2.5'), ('every', '3'),
             ('on_failure', 'warn')), ('/bin/sh', '-c', 'true'))]))
    policy, errors = policy_for(BASE, rules, info)
    assert errors == []
    assert policy.rule == 'rule 1 (flavor=ha.*) + domain metadata'
    assert (policy.monitor, policy.failure_threshold, policy.probe_interval,
            policy.agent_loss) == (False, 2, 30.0, AgentLoss.WARN)
    assert policy.probes == (AppProbe('db', ('/bin/sh', '-c', 'true'), 2.5,
                                      3, 3, OnFailure.WARN),)


def test_metadata_alone_names_itself():
    policy, _errors = policy_for(BASE, Rules(),
                                 guest(policy=element(monitor='no')))
    assert policy.rule == 'domain metadata' and policy.monitor is False


def test_an_empty_policy_element_changes_nothing():
    assert policy_for(BASE, Rules(), guest(policy=element()))[0] is BASE


def test_bad_metadata_values_are_named_and_ignored_the_rest_applies():
    overrides, errors = metadata_overrides(element(
        failure_threshold='0', monitor='maybe', probe_interval='7',
        agent_loss='report', colour='red', probes=[
            ProbeElement((('name', 'ok'),), ('/bin/true',)),
            ProbeElement((('name', 'bad'), ('every', 'x')), ('/bin/true',)),
            ProbeElement((('name', 'noargs'),), ())],
        unknown=('threshold',)), 10.0)
    assert overrides.agent_loss is AgentLoss.REPORT
    assert overrides.failure_threshold is None and overrides.monitor is None
    assert [p.name for p in overrides.probes] == ['ok']
    assert errors == [
        'domain metadata: failure_threshold: must be at least 1, not 0',
        "domain metadata: monitor: must be true or false, not 'maybe'",
        'domain metadata: probe_interval: must be a whole multiple of '
        '[introspection] probe_interval (10), not 7',
        "domain metadata: unknown key 'colour' (known: probe_interval, "
        "failure_threshold, agent_loss, monitor)",
        "domain metadata: probes: probe 2 (bad): every: must be a whole "
        "number, not 'x'",
        "domain metadata: probes: probe 3 (noargs): no 'exec'",
        'domain metadata: unknown element <threshold> (known: <probe>)']


def test_a_bad_metadata_value_leaves_the_rule_in_force():
    rules = rules_of(EXAMPLE)
    policy, errors = policy_for(BASE, rules, guest(
        name='scratch-1', policy=element(monitor='perhaps')))
    assert policy.monitor is False and policy.rule == 'rule 2 (name=scratch-*)'
    assert len(errors) == 1 and 'monitor' in errors[0]
