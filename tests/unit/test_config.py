"""Options, their upstream aliases, start-up checks and the sample file."""

import subprocess
import sys

import pytest
from oslo_config import cfg

from masakari_introspect.conf import (
    validate,
    default,
    introspection,
    libvirt,
    masakari,
    opts,
)
from tests.unit.fakes import ROOT, load, sample_sections

CHECKED = ('probe_interval', 'probe_timeout', 'failure_threshold')
ALIASES = {
    'probe_interval': 'guest_monitoring_interval',
    'probe_timeout': 'guest_monitoring_timeout',
    'failure_threshold': 'guest_monitoring_failure_threshold',
}


def test_defaults(tmp_path):
    conf = load(tmp_path, '')
    assert conf.introspection.probe_interval == 10
    assert conf.introspection.probe_timeout == 2
    assert conf.introspection.failure_threshold == 3
    assert conf.introspection.boot_grace_period == 120
    assert conf.introspection.report_agent_never_answered is False
    assert conf.libvirt.connection_uri == 'qemu:///system'
    assert conf.masakari.service_type == 'instance-ha'
    assert conf.masakari.timeout == 10
    assert conf.state_path == '/var/lib/masakari-introspect'
    assert conf.host


def test_new_options_are_read(tmp_path):
    conf = load(tmp_path, '[introspection]\nprobe_interval = 7\n'
                'probe_timeout = 3\nfailure_threshold = 4\n'
                '[libvirt]\nconnection_uri = test:///default\n')
    assert conf.introspection.probe_interval == 7
    assert conf.introspection.probe_timeout == 3
    assert conf.introspection.failure_threshold == 4
    assert conf.libvirt.connection_uri == 'test:///default'


def test_upstream_aliases_set_the_new_options(tmp_path):
    conf = load(tmp_path, '[introspectiveinstancemonitor]\n'
                'guest_monitoring_interval = 15\n'
                'guest_monitoring_timeout = 4\n'
                'guest_monitoring_failure_threshold = 6\n')
    assert conf.introspection.probe_interval == 15
    assert conf.introspection.probe_timeout == 4
    assert conf.introspection.failure_threshold == 6


def test_good_configuration_passes_the_check(tmp_path):
    conf = load(tmp_path, '[masakari]\nauth_type = none\n'
                'endpoint_override = http://127.0.0.1:15868/v1\n')
    assert validate.check(conf) == []


def test_check_warns_about_a_timeout_not_shorter_than_the_interval(
        tmp_path):
    conf = load(tmp_path, '[introspection]\nprobe_interval = 2\n'
                'probe_timeout = 2\n[masakari]\nauth_type = none\n'
                'endpoint_override = http://127.0.0.1:15868/v1\n')
    warnings = validate.check(conf)
    assert len(warnings) == 1
    assert 'probe_timeout' in warnings[0]


def test_check_refuses_a_service_that_cannot_notify(tmp_path):
    with pytest.raises(validate.ConfigError,
                       match=r'^\[masakari\] auth_type is not set: '):
        validate.check(load(tmp_path, ''))


def test_check_accepts_no_credentials_in_dry_run(tmp_path):
    assert validate.check(load(tmp_path, '[DEFAULT]\ndry_run = true\n')) \
        == []


@pytest.mark.parametrize('option', CHECKED)
@pytest.mark.parametrize('value', ['0', '-1', 'abc'])
def test_check_names_the_bad_option(tmp_path, option, value):
    conf = load(tmp_path, f'[introspection]\n{option} = {value}\n')
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
    message = str(info.value)
    assert f'[introspection] {option}' in message
    assert '\n' not in message
    assert 'LocationInfo' not in message


@pytest.mark.parametrize('option', CHECKED)
def test_check_names_the_new_option_for_a_bad_alias(tmp_path, option):
    alias = ALIASES[option]
    conf = load(tmp_path, f'[introspectiveinstancemonitor]\n{alias} = 0\n')
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
    assert f'[introspection] {option}' in str(info.value)


def run_main(tmp_path, text):
    path = tmp_path / 'bad.conf'
    path.write_text(text)
    return subprocess.run(
        [sys.executable, '-m', 'masakari_introspect.cmd.monitor',
         '--config-file', str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize('option,value', [
    ('probe_interval', '0'),
    ('probe_timeout', 'abc'),
    ('failure_threshold', '-1'),
])
def test_main_exits_2_with_one_line_naming_the_option(tmp_path, option,
                                                      value):
    proc = run_main(tmp_path, f'[introspection]\n{option} = {value}\n')
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f'[introspection] {option}' in lines[0]
    assert 'Traceback' not in proc.stderr
    assert proc.stdout == ''


def test_main_with_a_bad_alias_names_the_new_option(tmp_path):
    proc = run_main(tmp_path, '[introspectiveinstancemonitor]\n'
                    'guest_monitoring_interval = 0\n')
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith('Deprecated:')]
    assert len(lines) == 1, proc.stderr
    assert '[introspection] probe_interval' in lines[0]
    assert 'Traceback' not in proc.stderr


def test_main_with_a_missing_config_file_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'masakari_introspect.cmd.monitor',
         '--config-file', str(tmp_path / 'missing.conf')],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert 'missing.conf' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_list_opts_lists_the_seven_groups():
    groups = {g if isinstance(g, str) else g.name for g, _ in
              opts.list_opts()}
    assert groups == {'DEFAULT', 'introspection', 'libvirt', 'masakari',
                      'metrics', 'recovery', 'status'}
    by_group = {g if isinstance(g, str) else g.name: {o.dest for o in o_}
                for g, o_ in opts.list_opts()}
    assert {'host', 'state_path'} <= by_group['DEFAULT']
    assert {o.name for o in introspection.introspection_opts} <= \
        by_group['introspection']
    assert 'connection_uri' in by_group['libvirt']
    assert {'retry_interval', 'retry_interval_max', 'spool_max_entries',
            'auth_type', 'endpoint_override', 'service_type',
            'timeout'} <= by_group['masakari']


def test_list_opts_is_the_oslo_config_entry_point():
    from importlib.metadata import entry_points
    points = [ep for ep in entry_points(group='oslo.config.opts')
              if ep.value == 'masakari_introspect.conf.opts:list_opts']
    assert len(points) == 1
    assert points[0].load() is opts.list_opts


def test_every_int_option_has_a_minimum():
    for _, group_opts in opts.list_opts():
        for opt in group_opts:
            if isinstance(opt, cfg.IntOpt) and opt.dest in {
                    o.dest for o in introspection.introspection_opts
                    + libvirt.libvirt_opts + masakari.masakari_opts}:
                assert opt.type.min is not None, opt.name


def test_sample_has_every_introspection_option():
    section = sample_sections()['introspection']
    for opt in introspection.introspection_opts:
        assert any(line.startswith(f'#{opt.name} = ')
                   for line in section), opt.name


@pytest.mark.parametrize('group,group_opts', [
    ('DEFAULT', default.default_opts),
    ('libvirt', libvirt.libvirt_opts),
    ('masakari', masakari.masakari_opts),
])
def test_sample_has_the_other_groups_options(group, group_opts):
    section = sample_sections()[group]
    for opt in group_opts:
        assert any(line.startswith(f'#{opt.name} = ')
                   for line in section), opt.name


def test_sample_mentions_the_upstream_aliases():
    section = '\n'.join(sample_sections()['introspection'])
    for alias in ALIASES.values():
        assert alias in section


def test_sample_shows_the_masakari_defaults():
    section = sample_sections()['masakari']
    assert '#service_type = instance-ha' in section
    assert '#timeout = 10' in section
    assert any(line.startswith('#endpoint_override = ') for line in section)
    assert any(line.startswith('#auth_type = ') for line in section)
