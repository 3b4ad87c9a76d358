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

QEMU's main thread comes last, as one more entry: it carries the guest
agent's channel, and on the bed a starved QEMU showed it first: its main
thread waited while the idle guest's vCPU, never woken by the ping that
did not arrive, waited for nothing (the agent call timed out and the
statistics call took 6 s before any vCPU span looked starved).

The kernel adds a wait to a thread's ``run_delay`` only when the thread
gets a CPU at last, so a vCPU thread that waits for seconds shows no wait
until it runs; measured on the bed, a starved idle vCPU showed 0.00 s of
wait in one 2 s span and 4.27 s in the next. A wait that is still going on
is counted as it goes: a thread that was runnable (state ``R``) at the last
reading and still is, and has not run since (the same run time and the
same count of slices run), has waited the whole time between the two
readings. That wait is added to the figure given, which never goes back,
until the kernel's own figure, which then holds the whole wait, passes it.
"""

import pathlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from masakari_introspect.core.starvation import VcpuTimes

PROC = pathlib.Path('/proc')
RUN = pathlib.Path('/run/libvirt/qemu')    # the system daemon's pid files
_VCPU_THREAD = re.compile(r'CPU (\d+)/')
MAIN = 1 << 30      # QEMU's main thread, after the vCPUs


def local(uri: str) -> bool:
    """Whether ``uri`` is the local QEMU system daemon, whose guests'
    processes this host's ``/proc`` shows."""
    parts = urlsplit(uri)
    return parts.scheme == 'qemu' and not parts.netloc and \
        parts.path == '/system'


@dataclass(frozen=True)
class _Thread:
    """One vCPU thread as last read."""
    pid: int
    ran: int           # ns
    slices: int        # times it got a CPU
    waited: int        # the kernel's run_delay, ns
    runnable: bool
    given: int         # the wait given for it, ns (run_delay and more)
    at: float          # read at, monotonic s


class SchedStats:
    """Reads one domain's vCPU figures by its name."""

    def __init__(self, proc: pathlib.Path = PROC,
                 run: pathlib.Path = RUN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._proc = proc
        self._run = run
        self._clock = clock
        # Per domain name, per vCPU: the thread as last read.
        self._last: dict[str, dict[int, _Thread]] = {}

    def read(self, name: str) -> VcpuTimes | None:
        """Per vCPU (run time, wait for a host CPU), ns, in vCPU order,
        then QEMU's main thread's; None if they cannot be read (no pid file, a process gone, a host
        kernel without scheduler statistics)."""
        try:
            pid = int((self._run / ('%s.pid' % name)).read_text())
            found = {}
            for task in (self._proc / str(pid) / 'task').iterdir():
                match = _VCPU_THREAD.match((task / 'comm').read_text())
                if task.name == str(pid):
                    number = MAIN
                elif match is None:
                    continue
                else:
                    number = int(match.group(1))
                ran, waited, slices = (
                    int(f) for f in
                    (task / 'schedstat').read_text().split()[:3])
                state = (task / 'stat').read_text().rsplit(')', 1)[1].split()
                found[number] = (ran, waited, slices, state[:1] == ['R'])
        except (OSError, ValueError):
            self._last.pop(name, None)
            return None
        if set(found) <= {MAIN}:
            self._last.pop(name, None)
            return None
        now = self._clock()
        before = self._last.get(name, {})
        threads = {n: _thread(pid, now, before.get(n), *figures)
                   for n, figures in found.items()}
        self._last[name] = threads
        return tuple((threads[n].ran, threads[n].given)
                     for n in sorted(threads))

    def keep(self, names: Iterable[str]) -> None:
        """Forget the threads of domains not in ``names`` (gone)."""
        names = set(names)
        for name in [n for n in self._last if n not in names]:
            del self._last[name]


def _thread(pid: int, now: float, last: _Thread | None, ran: int,
            waited: int, slices: int, runnable: bool) -> _Thread:
    """A vCPU thread read at ``now``, its wait still going on counted."""
    given = waited
    if last is not None and last.pid == pid:
        given = max(waited, last.given)
        if runnable and last.runnable and ran == last.ran and \
                slices == last.slices:
            # Runnable throughout (it cannot sleep without running): it
            # has waited since the last reading, not yet in run_delay.
            given = max(given, last.given + int((now - last.at) * 1e9))
    return _Thread(pid, ran, slices, waited, runnable, given, now)
