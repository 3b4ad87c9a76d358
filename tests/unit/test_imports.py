"""What importing a module pulls in: the operator's tools stay light."""

import subprocess
import sys

from oslo_config import cfg

from masakari_introspect.conf import masakari
from masakari_introspect.conf import opts

LIGHT = ('masakari_introspect.ops.status_client',
         'masakari_introspect.ops.status_server',
         'masakari_introspect.cmd.check',
         'masakari_introspect.cmd.status')
HEAVY = ('keystoneauth1', 'libvirt', 'apscheduler', 'prometheus_client')


def loaded_after_import(*modules):
    """The top-level packages loaded by importing ``modules`` afresh."""
    code = ('import sys\n%s\nprint("\\n".join(sys.modules))'
            % '\n'.join('import %s' % m for m in modules))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=60, check=True)
    return {name.split('.')[0] for name in proc.stdout.split()}


def test_the_status_and_check_tools_load_neither_keystoneauth_nor_libvirt():
    loaded = loaded_after_import(*LIGHT)
    assert 'masakari_introspect' in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_service_loads_keystoneauth():
    """The probe above can see a heavy import (it is not blind)."""
    assert 'keystoneauth1' in loaded_after_import(
        'masakari_introspect.conf.opts')


def test_importing_the_conf_package_registers_nothing():
    code = ('from oslo_config import cfg\n'
            'before = set(cfg.CONF)\n'
            'import masakari_introspect.conf\n'
            'print(sorted(set(cfg.CONF) - before))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=60, check=True)
    assert proc.stdout.strip() == '[]'


def test_the_service_registers_every_listed_option():
    """All but the authentication plugins' options, which the start-up
    check registers for the configured [masakari] auth_type."""
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    groups = 0
    for group, group_opts in opts.list_opts():
        name = group if isinstance(group, str) else group.name
        section = conf if name == 'DEFAULT' else conf[name]
        groups += 1
        if name == 'masakari':
            group_opts = masakari.masakari_opts
        for opt in group_opts:
            assert opt.dest in section, (name, opt.dest)
    assert groups == 7
    assert 'api' in conf   # masakari-monitors' group, read if present
