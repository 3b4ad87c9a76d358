"""The systemd unit: shipped with the package, consistent with the docs."""

import configparser
import shutil
import subprocess
import sys

import pytest
from tests.unit.fakes import ROOT


UNIT = ROOT / 'etc' / 'systemd' / 'masakari-introspect.service'
EXEC = '/opt/masakari-introspect/bin/masakari-introspect'


def service_section():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str   # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser['Service']


def test_unit_is_notify_with_watchdog_and_no_restart_on_config_errors():
    service = service_section()
    assert service['Type'] == 'notify'
    assert int(service['WatchdogSec']) > 0
    assert service['RestartPreventExitStatus'] == '2'
    assert service['ExecReload'] == '/bin/kill -HUP $MAINPID'
    assert service['User'] == 'masakari-introspect'
    assert service['CapabilityBoundingSet'] == ''
    assert service['ProtectSystem'] == 'strict'
    assert service['NoNewPrivileges'] == 'yes'


def test_exec_start_is_the_documented_installation():
    assert service_section()['ExecStart'].split()[0] == EXEC
    assert EXEC in (ROOT / 'doc' / 'source' / 'operations.rst').read_text()


def test_setup_cfg_ships_the_unit():
    text = (ROOT / 'setup.cfg').read_text()
    assert 'share/masakari-introspect/systemd =\n' \
        '        etc/systemd/masakari-introspect.service' in text


@pytest.mark.skipif(shutil.which('systemd-analyze') is None,
                    reason='systemd-analyze is not installed')
def test_systemd_analyze_verify(tmp_path):
    unit = tmp_path / 'masakari-introspect.service'
    script = shutil.which('masakari-introspect') or sys.executable
    unit.write_text(UNIT.read_text().replace(EXEC, script))
    proc = subprocess.run(['systemd-analyze', 'verify', str(unit)],
                          capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'masakari-introspect.service' not in proc.stderr, proc.stderr
