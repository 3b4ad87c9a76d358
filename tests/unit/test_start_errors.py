"""Configuration that used to pass start-up and break later, or break with a
traceback: each is now one line naming the option, exit 2 (issue 12)."""

import os
import socket
import subprocess
import sys

import pytest
from oslo_config import cfg

from masakari_introspect.conf import validate
from tests.unit.fakes import ROOT, load

NO_AUTH = ('[masakari]\nauth_type = none\n'
           'endpoint_override = http://127.0.0.1:15868/v1\n')
# Never libvirtd: should a test start the service by mistake, it runs on
# libvirt's in-process test driver until the timeout.
SAFE = '[libvirt]\nconnection_uri = test:///default\n'
UPSTREAM_API = ('[api]\nregion = RegionTwo\napi_version = v1\n'
                'api_interface = internal\nauth_url = http://keystone/v3\n'
                'project_name = service\nproject_domain_id = default\n'
                'username = masakari\nuser_domain_id = default\n'
                'password = secret\napi_retry_max = 12\n'
                'api_retry_interval = 10\n')
SERVICE_USER = ('[masakari]\nauth_section = service_user\n'
                '[service_user]\nauth_type = password\n'
                'auth_url = http://keystone/v3\nusername = nova\n'
                'password = secret\nuser_domain_name = Default\n'
                'project_name = service\nproject_domain_name = Default\n')


def config_error(conf):
    with pytest.raises(validate.ConfigError) as info:
        validate.check(conf)
        validate.check_files(conf)
    message = str(info.value)
    assert '\n' not in message
    return message


# -- keystoneauth options -----------------------------------------------------


@pytest.mark.parametrize('text,expected', [
    ('[masakari]\nauth_type = passwrod\n',
     "invalid value for [masakari] auth_type: no authentication plugin "
     "'passwrod'"),
    ('[masakari]\nauth_type = password\n',
     '[masakari] auth_type = password needs [masakari] auth_url'),
    (NO_AUTH + 'valid_interfaces = intenral\n',
     'invalid value for [masakari] valid_interfaces: \'intenral\''),
    (NO_AUTH + 'interface = internal\nvalid_interfaces = internal\n',
     '[masakari] interface and valid_interfaces are mutually exclusive'),
    (NO_AUTH + 'timeout = -3\n',
     'invalid value for [masakari] timeout: -3'),
    (NO_AUTH + 'timeout = 0\n', 'invalid value for [masakari] timeout: 0'),
    (NO_AUTH + 'connect_retries = -1\n',
     'invalid value for [masakari] connect_retries: -1'),
    ('[masakari]\nauth_type = none\n',
     '[masakari] auth_type = none needs [masakari] endpoint_override'),
    ('', '[masakari] auth_type is not set'),
    ('[masakari]\nauth_section = service_user\n',
     '[masakari] auth_section = service_user, but [service_user] has no '
     'auth_type'),
    ('[masakari]\nauth_section = service_user\n[service_user]\n'
     'auth_type = password\n',
     '[service_user] auth_type = password needs [service_user] auth_url'),
])
def test_bad_masakari_options_are_named(tmp_path, text, expected):
    assert config_error(load(tmp_path, text)).startswith(expected)


def test_auth_section_is_read_nova_style(tmp_path):
    conf = load(tmp_path, SERVICE_USER)
    assert validate.check(conf) == []
    assert validate.unknown_options(conf) == []
    assert conf.service_user.username == 'nova'


# -- masakari-monitors' [api] --------------------------------------------------


def test_upstream_api_credentials_are_used_with_a_warning(tmp_path):
    conf = load(tmp_path, UPSTREAM_API)
    warnings = validate.check(conf)
    assert validate.unknown_options(conf) == []
    assert conf.masakari.auth_type == 'password'
    assert conf.masakari.auth_url == 'http://keystone/v3'
    assert conf.masakari.username == 'masakari'
    assert conf.masakari.password == 'secret'
    assert conf.masakari.user_domain_id == 'default'
    assert conf.masakari.region_name == 'RegionTwo'
    assert conf.masakari.valid_interfaces == ['internal']
    assert 'move them to [masakari]' in warnings[0]
    assert 'region_name (was region)' in warnings[0]
    assert 'secret' not in '\n'.join(warnings)
    assert any('[api] api_retry_max is ignored' in w for w in warnings)


def test_upstream_api_without_auth_url_is_named(tmp_path):
    conf = load(tmp_path, '[api]\nusername = masakari\npassword = x\n')
    assert config_error(conf).startswith(
        '[masakari] auth_type = password needs [masakari] auth_url')


def test_upstream_api_is_ignored_when_masakari_has_credentials(tmp_path):
    conf = load(tmp_path, NO_AUTH + UPSTREAM_API)
    warnings = validate.check(conf)
    assert conf.masakari.auth_type == 'none'
    assert conf.masakari.region_name is None
    assert warnings[0].startswith('[api] (masakari-monitors) is ignored')


def test_a_notifier_is_built_from_upstream_api(tmp_path):
    from masakari_introspect.recovery.masakari import MasakariNotifier
    conf = load(tmp_path, UPSTREAM_API)
    validate.check(conf)
    adapter = MasakariNotifier.from_conf(conf)._poster
    assert adapter.region_name == 'RegionTwo'
    assert adapter.interface == ['internal']
    assert adapter.auth.auth_url == 'http://keystone/v3'


# -- listen address, paths ------------------------------------------------------


@pytest.mark.parametrize('value', ['1.2.3.4.5:9178', '300.1.1.1:80',
                                   'bad_host:80', '-x:80'])
def test_a_bad_listen_host_is_named(tmp_path, value):
    conf = load(tmp_path, NO_AUTH + '[metrics]\nlisten = %s\n' % value)
    assert config_error(conf).startswith(
        'invalid value for [metrics] listen: ')


@pytest.mark.parametrize('value', ['9178', '0.0.0.0:9178', 'localhost:1',
                                   '[::1]:9178', 'mon-1.example.org:9178'])
def test_good_listen_addresses(tmp_path, value):
    conf = load(tmp_path, NO_AUTH + '[metrics]\nlisten = %s\n' % value)
    assert validate.check(conf) == []


def files_error(conf):
    with pytest.raises(validate.ConfigError) as info:
        validate.check_files(conf)
    return str(info.value)


def test_a_state_path_that_is_a_file(tmp_path):
    (tmp_path / 'file').write_text('')
    conf = load(tmp_path, '[DEFAULT]\nstate_path = %s\n' % (tmp_path / 'file'))
    assert files_error(conf) == ('[DEFAULT] state_path: %s is not a '
                                 'directory' % (tmp_path / 'file'))


def test_a_state_path_below_a_file(tmp_path):
    (tmp_path / 'file').write_text('')
    conf = load(tmp_path, '[DEFAULT]\nstate_path = %s/state\n'
                % (tmp_path / 'file'))
    assert files_error(conf).startswith('[DEFAULT] state_path: ')


def test_a_missing_state_path_that_can_be_created(tmp_path):
    conf = load(tmp_path, '[DEFAULT]\nstate_path = %s/a/b\n' % tmp_path)
    validate.check_files(conf)
    assert not (tmp_path / 'a').exists()   # checked, not created


def test_a_missing_log_dir(tmp_path):
    conf = load(tmp_path, '[DEFAULT]\nstate_path = %s\n' % tmp_path)
    conf.register_opts([cfg.StrOpt('log_dir'), cfg.StrOpt('log_file')])
    conf.set_override('log_dir', str(tmp_path / 'logs'))
    assert files_error(conf) == ('[DEFAULT] log_dir: directory %s does not '
                                 'exist' % (tmp_path / 'logs'))
    conf.clear_override('log_dir')
    conf.set_override('log_file', str(tmp_path / 'nope' / 'x.log'))
    assert files_error(conf).startswith('[DEFAULT] log_file: directory ')
    conf.set_override('log_file', str(tmp_path))
    assert files_error(conf) == '[DEFAULT] log_file: %s is a directory' \
        % tmp_path


def test_an_overlong_socket_path(tmp_path):
    conf = load(tmp_path, '[DEFAULT]\nstate_path = %s\n[status]\n'
                'socket_path = /%s\n' % (tmp_path, 'x' * 120))
    assert files_error(conf) == ('invalid value for [status] socket_path: '
                                 'longer than 107 bytes')


# -- the command -----------------------------------------------------------------


def run_main(tmp_path, text, *extra):
    path = tmp_path / 'bad.conf'
    path.write_text(SAFE + '[DEFAULT]\nstate_path = %s\n' % (tmp_path / 's')
                    + text)
    return subprocess.run(
        [sys.executable, '-m', 'masakari_introspect.cmd.monitor',
         '--config-file', str(path), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def one_line(proc):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith('Deprecated:')]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('masakari-introspect: ')
    assert 'Traceback' not in proc.stderr
    return lines[0]


@pytest.mark.parametrize('text,option', [
    ('[masakari]\nauth_type = passwrod\n', '[masakari] auth_type'),
    ('[masakari]\nauth_type = password\n', '[masakari] auth_url'),
    (NO_AUTH + 'valid_interfaces = intenral\n', '[masakari] valid_interfaces'),
    (NO_AUTH + 'interface = internal\nvalid_interfaces = internal\n',
     '[masakari] interface'),
    (NO_AUTH + 'timeout = -3\n', '[masakari] timeout'),
    (NO_AUTH + '[DEFAULT]\nlog_dir = /nonexistent/mi-logs\n',
     '[DEFAULT] log_dir'),
    (NO_AUTH + '[metrics]\nlisten = 1.2.3.4.5:9178\n', '[metrics] listen'),
    ('[masakari]\nauth_section = service_user\n', '[masakari] auth_section'),
])
def test_main_names_the_option(tmp_path, text, option):
    assert option in one_line(run_main(tmp_path, text))


def test_main_with_a_config_file_that_is_a_directory(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'masakari_introspect.cmd.monitor',
         '--config-file', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert one_line(proc) == (
        'masakari-introspect: cannot read --config-file %s: Is a directory '
        '(use --config-dir for a directory)' % tmp_path)


def test_main_with_a_state_path_that_is_a_file(tmp_path):
    (tmp_path / 's').write_text('')
    line = one_line(run_main(tmp_path, NO_AUTH))
    assert line == ('masakari-introspect: [DEFAULT] state_path: %s is not a '
                    'directory' % (tmp_path / 's'))


def test_main_with_a_busy_metrics_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = one_line(run_main(
            tmp_path, NO_AUTH + '[metrics]\nlisten = 127.0.0.1:%d\n' % port))
    assert line == ('masakari-introspect: [metrics] listen = 127.0.0.1:%d: '
                    'Address already in use' % port)
    assert not (tmp_path / 's' / 'status.sock').exists()


def test_main_with_an_unusable_socket_path(tmp_path):
    (tmp_path / 'taken').write_text('keep')
    line = one_line(run_main(tmp_path, NO_AUTH + '[status]\nsocket_path = %s\n'
                             % (tmp_path / 'taken')))
    assert line.startswith('masakari-introspect: [status] socket_path: ')
    assert (tmp_path / 'taken').read_text() == 'keep'


def test_main_accepts_the_upstream_api_group(tmp_path):
    """Valid up to the service: stopped here by a busy status socket."""
    holder = socket.socket(socket.AF_UNIX)
    path = tmp_path / 'live.sock'
    holder.bind(str(path))
    holder.listen(1)
    try:
        proc = run_main(tmp_path, UPSTREAM_API + '[status]\nsocket_path = %s\n'
                        % path)
    finally:
        holder.close()
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert 'another service answers' in lines[-1]
    assert 'move them to [masakari]' in proc.stdout + proc.stderr
    assert os.path.exists(path)
