"""The [recovery] options and what the start-up check makes of them."""

import pytest
from oslo_config import cfg

from masakari_introspect.conf import opts, recovery, validate
from tests.unit.fakes import load, sample_sections


def test_defaults(tmp_path):
    conf = load(tmp_path, '')
    assert conf.recovery.driver == 'masakari'
    assert conf.recovery.libvirt_action == 'reset'
    assert conf.recovery.command == []
    assert conf.recovery.command_timeout == 30
    assert conf.recovery.max_recoveries == 3
    assert conf.recovery.window == 3600
    assert conf.recovery.forensics is True
    assert conf.recovery.forensics_keep == 10


def test_values_are_read(tmp_path):
    conf = load(tmp_path, '[recovery]\ndriver = command\n'
                'command = /usr/local/sbin/hook,--cluster,web\n'
                'command_timeout = 5\nlibvirt_action = restart\n')
    assert conf.recovery.driver == 'command'
    assert conf.recovery.command == ['/usr/local/sbin/hook', '--cluster',
                                     'web']
    assert conf.recovery.command_timeout == 5
    assert conf.recovery.libvirt_action == 'restart'


@pytest.mark.parametrize('text,option', [
    ('driver = nova', 'driver'),
    ('libvirt_action = reboot', 'libvirt_action'),
    ('command_timeout = 0', 'command_timeout'),
    ('max_recoveries = 0', 'max_recoveries'),
    ('window = 0', 'window'),
    ('forensics_keep = 0', 'forensics_keep'),
])
def test_bad_values_stop_the_check_naming_the_option(tmp_path, text, option):
    conf = load(tmp_path, '[recovery]\n' + text + '\n')
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
    assert '[recovery] %s' % option in str(info.value)


def test_command_driver_needs_a_command(tmp_path):
    conf = load(tmp_path, '[recovery]\ndriver = command\n')
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
    assert '[recovery] command' in str(info.value)


@pytest.mark.parametrize('driver', ['libvirt', 'command'])
def test_local_drivers_need_no_keystone_option(tmp_path, driver):
    conf = load(tmp_path, '[recovery]\ndriver = %s\ncommand = /bin/true\n'
                % driver)
    assert validate.check(conf) == []


def test_masakari_driver_still_needs_auth(tmp_path):
    conf = load(tmp_path, '')
    with pytest.raises(validate.ConfigError, match=r'\[masakari\] auth_type'):
        validate.check(conf)


def test_every_int_has_a_minimum_and_help_says_what_is_possible():
    for opt in recovery.recovery_opts:
        if isinstance(opt, cfg.IntOpt):
            assert opt.type.min is not None, opt.name
        if opt.name in ('driver', 'libvirt_action', 'command'):
            assert 'Possible values' in opt.help, opt.name
        assert 'Related options' in opt.help, opt.name


def test_listed_for_the_generator_and_in_the_sample():
    names = {(g if isinstance(g, str) else g.name) for g, _ in
             opts.list_opts()}
    assert 'recovery' in names
    section = sample_sections()['recovery']
    for opt in recovery.recovery_opts:
        assert any(line.split(' =')[0] == f'#{opt.name}' for line in section), \
            opt.name
    assert '#driver = masakari' in section
