"""The recovery package: one function picks the driver by name."""

import subprocess
import sys

from masakari_introspect import recovery
from masakari_introspect.recovery.command import CommandRecovery
from tests.unit.fakes import load


def test_load_driver_by_name(tmp_path):
    conf = load(tmp_path, '[recovery]\ndriver = command\n'
                'command = /bin/true --flag\ncommand_timeout = 7\n')
    driver = recovery.load_driver(conf)
    assert isinstance(driver, CommandRecovery)
    assert driver.name == 'Recovery command'
    assert recovery.dry_run_action(conf) == 'run /bin/true --flag'


def test_the_masakari_driver_is_the_default(tmp_path):
    conf = load(tmp_path, '[masakari]\nauth_type = none\n'
                'endpoint_override = http://127.0.0.1:9/v1\n')
    driver = recovery.load_driver(conf)
    assert driver.name == 'Masakari API'
    assert recovery.dry_run_action(conf) == ''


def test_the_delivery_machinery_loads_no_driver():
    code = ('import sys\n'
            'import masakari_introspect.recovery\n'
            'import masakari_introspect.recovery.sender\n'
            'import masakari_introspect.recovery.outbox\n'
            'loaded = [m for m in ("keystoneauth1", "libvirt") '
            'if m in sys.modules]\n'
            'assert not loaded, loaded\n')
    subprocess.run([sys.executable, '-c', code], check=True)
