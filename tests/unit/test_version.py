"""--version on every command, from the package metadata (pbr)."""

import subprocess
import sys

import pytest

from masakari_introspect.version import version_string
from tests.unit.fakes import ROOT


@pytest.mark.parametrize('module,prefix', [
    ('monitor', ''),
    ('status', 'masakari-introspect-status '),
    ('check', 'masakari-introspect-check '),
])
def test_every_command_has_version(module, prefix):
    proc = subprocess.run(
        [sys.executable, '-m', 'masakari_introspect.cmd.' + module,
         '--version'], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == prefix + version_string() + '\n'
    assert version_string() != 'unknown'
