"""Upstream's monitor with one log line per guest-ping, for timing it.

masakari-monitors logs nothing when a ping succeeds, so its probe period
cannot be read from its log. The shim is a console script placed in a
directory that stands in for the upstream virtualenv
(``UpstreamMonitor(venv=...)`` only runs ``<venv>/bin/<console script>``):
it runs upstream's own ``main()`` with the real virtualenv's Python, after
wrapping the raw ``libvirtmod_qemu.virDomainQemuAgentCommand`` that upstream
calls so that each call logs ``Ping <uuid> ok|failed in <s> s`` at INFO
through upstream's own (oslo.log) logging. Scheduling, timeouts and the
state machine are untouched; the cost is one log line per ping.
"""

import pathlib
import re

from tests.bed.upstream import CONSOLE_SCRIPT

SHIM = '''#!{python}
"""{script} with one log line per guest-ping (benchmarks/upstream_shim.py)."""
import sys
import time

from masakarimonitors.cmd.introspectiveinstancemonitor import main

import libvirtmod
import libvirtmod_qemu
from oslo_log import log as logging

LOG = logging.getLogger('benchmarks.upstream_shim')
_command = libvirtmod_qemu.virDomainQemuAgentCommand


def timed_command(dom, command, timeout, flags):
    uuid = libvirtmod.virDomainGetUUIDString(dom)
    started = time.monotonic()
    reply = _command(dom, command, timeout, flags)
    LOG.info('Ping %s %s in %.3f s', uuid,
             'failed' if reply is None else 'ok', time.monotonic() - started)
    return reply


libvirtmod_qemu.virDomainQemuAgentCommand = timed_command
sys.argv[0] = '{script}'
sys.exit(main())
'''

PING_OK = re.compile(r'Ping (?P<uuid>[0-9a-f-]{36}) ok in ')
PING_ANY = re.compile(r'Ping (?P<uuid>[0-9a-f-]{36}) (ok|failed) in ')


def instrumented_venv(real_venv: pathlib.Path,
                      into: pathlib.Path) -> pathlib.Path:
    """A stand-in venv directory whose console script is the shim."""
    script = into / 'bin' / CONSOLE_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(SHIM.format(python=real_venv / 'bin' / 'python',
                                  script=CONSOLE_SCRIPT))
    script.chmod(0o755)
    return into
