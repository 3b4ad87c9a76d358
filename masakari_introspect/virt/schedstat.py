"""vCPU run time and run delay from the host's scheduler statistics.

libvirt's ``VCPU`` statistics group reads them from ``/proc`` too, but from
libvirt 8.10 on, with a QEMU that has ``query-stats`` (7.1 and later), the
group also asks QEMU for its own vCPU statistics whenever it can take the
domain's job: a starved QEMU answers that late (about 2 s a query on the
test bed), which is the very guest whose figures are needed in time. So on
the local system daemon the monitor reads them itself: each running
domain's QEMU process from libvirt's pid file, its vCPU threads by name
(QEMU names them ``CPU <n>/KVM``, ``CPU <n>/TCG``, ...), and each thread's
``schedstat`` (run time and time waiting for a host CPU, ns). Nothing here
waits for QEMU or libvirtd's jobs.
"""

import pathlib
import re
from urllib.parse import urlsplit

from masakari_introspect.core.starvation import VcpuTimes

PROC = pathlib.Path('/proc')
RUN = pathlib.Path('/run/libvirt/qemu')    # the system daemon's pid files
_VCPU_THREAD = re.compile(r'CPU (\d+)/')


def local(uri: str) -> bool:
    """Whether ``uri`` is the local QEMU system daemon, whose guests'
    processes this host's ``/proc`` shows."""
    parts = urlsplit(uri)
    return parts.scheme == 'qemu' and not parts.netloc and \
        parts.path == '/system'


class SchedStats:
    """Reads one domain's vCPU figures by its name."""

    def __init__(self, proc: pathlib.Path = PROC,
                 run: pathlib.Path = RUN) -> None:
        self._proc = proc
        self._run = run

    def read(self, name: str) -> VcpuTimes | None:
        """Per vCPU (run time, wait for a host CPU), ns, in vCPU order;
        None if they cannot be read (no pid file, a process gone, a host
        kernel without scheduler statistics)."""
        try:
            pid = int((self._run / ('%s.pid' % name)).read_text())
            found = {}
            for task in (self._proc / str(pid) / 'task').iterdir():
                match = _VCPU_THREAD.match((task / 'comm').read_text())
                if match is None:
                    continue
                ran, waited = (task / 'schedstat').read_text().split()[:2]
                found[int(match.group(1))] = (int(ran), int(waited))
        except (OSError, ValueError):
            return None
        if not found:
            return None
        return tuple(found[i] for i in sorted(found))
