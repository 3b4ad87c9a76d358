"""Forensics saved before an instance is reported: what it looked like.

Before each report the monitor hands the verdict, the last statistics and
probe results to a :class:`Recorder`, which writes them under
``<root>/<uuid>/<UTC time>/`` together with what a :class:`Capture` can get
from the hypervisor: a console screenshot and the domain XML.

The report must not wait for a sick QEMU: the capture runs in a daemon worker
thread and is waited for a bounded time (``budget``). A result that arrives
later is still written if it comes within ``late`` seconds, else dropped.
There is one worker per recorder; while a previous capture is still stuck,
new records skip the capture and say so in ``verdict.json``. Only the newest
``keep`` folders of an instance are kept.
"""

import datetime
import os
import pathlib
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from typing import Protocol

from oslo_log import log as logging

from masakari_introspect.recovery import forensic_files as files
from masakari_introspect.recovery.forensic_files import DOMAIN_XML
from masakari_introspect.recovery.forensic_files import PROBES
from masakari_introspect.recovery.forensic_files import SCREENSHOT
from masakari_introspect.recovery.forensic_files import STATS
from masakari_introspect.recovery.forensic_files import VERDICT
from masakari_introspect.recovery.forensic_files import Failed
from masakari_introspect.recovery.forensic_files import write_capture
from masakari_introspect.recovery.forensic_files import write_json
from masakari_introspect.recovery.forensics_first import Captures

LOG = logging.getLogger(__name__)

# The capture is waited for until this share of the budget is spent; the
# rest is left for writing the small files.
WAIT_SHARE = 0.9
_SAFE_UUID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


class Capture(Protocol):
    """What the hypervisor can show of an instance; None when it cannot."""

    def screenshot(self, uuid: str) -> tuple[bytes, str] | None:
        """The console as an image: (data, MIME type)."""

    def domain_xml(self, uuid: str) -> str | None:
        """The live domain XML."""


class _Job:
    """One capture: filled by the worker, read by the recorder."""

    def __init__(self, uuid: str, folder: pathlib.Path, began: float
                 ) -> None:
        self.uuid = uuid
        self.folder = folder
        self.began = began
        self.results: dict[str, object] = {}
        self.handed_over = False     # the caller stopped waiting
        self.done = False            # the worker finished both calls
        self.verdict: dict[str, Any] = {}     # once written by the caller
        self.late: dict[str, str] = {}        # notes on late results
        self.write_lock = threading.Lock()


class Recorder:
    """Writes forensics folders; ``record`` never raises and never hangs."""

    def __init__(self, root: pathlib.Path, keep: int, capture: Capture, *,
                 budget: float = 1.0, late: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if keep < 1:
            raise ValueError('keep must be at least 1, not %r' % (keep,))
        if budget <= 0:
            raise ValueError('budget must be positive, not %r' % (budget,))
        self._root = pathlib.Path(root)
        self._keep = keep
        self._capture = capture
        self._budget = budget
        self._late = late
        self._clock = clock
        self._cond = threading.Condition()
        self._busy: _Job | None = None
        # For drivers that act only once the record is written.
        self.captures = Captures(budget, clock)

    def reserve(self, uuid: str, when: datetime.datetime
                ) -> pathlib.Path | None:
        """Make the folder now (quick), to name it before it is filled."""
        if not _SAFE_UUID.match(uuid):
            LOG.error('Forensics not saved: %r is not a usable instance '
                      'UUID', uuid)
            return None
        try:
            folder = files.make(self._root / uuid, when)
            self.captures.begun(str(folder))
            return folder
        except OSError as exc:
            LOG.error('Cannot save forensics of instance %s under %s: %s',
                      uuid, self._root, exc)
            return None

    def record(self, uuid: str, name: str, reason: str, stats: dict,
               probes: list[dict], when: datetime.datetime,
               folder: pathlib.Path | None = None,
               died: str | None = None) -> pathlib.Path | None:
        """Save what is known about ``uuid``; the folder, or None.

        Returns within ``budget`` seconds (plus the time to write a few small
        files). On a disk error it logs one ERROR and returns the folder if
        one was made, else None.
        """
        began = self._clock()
        try:
            if folder is None:
                folder = self.reserve(uuid, when)
            if folder is None:
                return None
            job = self._start_capture(uuid, folder, began)
            write_json(folder / STATS, stats)
            write_json(folder / PROBES, probes)
            capture = self._collect(job, began)
            verdict = {
                'uuid': uuid,
                'name': name,
                'reason': reason,
                'died': died or 'unknown',    # see core/died.py
                'time': files.utc(when).strftime('%Y-%m-%dT%H:%M:%SZ'),
                'host': _host_facts(),
                'capture': capture,
            }
            self._write_verdict(job, folder, verdict)
            files.prune(folder, self._keep)
            return folder
        except OSError as exc:
            LOG.error('Cannot save forensics of instance %s (%s) under %s: '
                      '%s', name, uuid, folder or self._root, exc)
        except Exception:
            LOG.exception('Saving forensics of instance %s (%s) failed',
                          name, uuid)
        finally:
            if folder is not None:
                self.captures.ended(str(folder))
        return folder

    # -- the capture ---------------------------------------------------------

    def _start_capture(self, uuid: str, folder: pathlib.Path,
                       began: float) -> _Job | str:
        """The running capture, or why there is none."""
        with self._cond:
            busy = self._busy
            if busy is not None and not busy.done:
                LOG.warning('Forensics of instance %s without screenshot and '
                            'domain XML: the capture for %s is still stuck',
                            uuid, busy.uuid)
                return 'skipped: the capture for %s is still stuck' % (
                    busy.uuid,)
            job = _Job(uuid, folder, began)
            self._busy = job
        worker = threading.Thread(target=self._run, args=(job,),
                                  name='forensics-capture', daemon=True)
        try:
            worker.start()
        except RuntimeError as exc:
            LOG.error('Cannot start the forensics capture of instance %s: '
                      '%s', uuid, exc)
            with self._cond:
                job.done = True
            return 'skipped: cannot start a thread'
        return job

    def _run(self, job: _Job) -> None:
        """The worker: the domain XML first (cheap), then the screenshot."""
        calls: tuple[tuple[str, Callable[[str], object]], ...] = (
            (DOMAIN_XML, self._capture.domain_xml),
            (SCREENSHOT, self._capture.screenshot))
        try:
            for kind, call in calls:
                try:
                    value: object = call(job.uuid)
                except Exception as exc:
                    LOG.warning('Capture of the %s of instance %s failed: %r',
                                kind, job.uuid, exc)
                    value = Failed(exc)
                with self._cond:
                    if not job.handed_over:
                        job.results[kind] = value
                        self._cond.notify_all()
                        continue
                self._arrived_late(job, kind, value)
        finally:
            with self._cond:
                job.done = True
                self._cond.notify_all()

    def _collect(self, job: _Job | str, began: float) -> dict[str, str]:
        """Wait for the capture within the budget; write what came."""
        if isinstance(job, str):
            return {DOMAIN_XML: job, SCREENSHOT: job}
        deadline = began + self._budget * WAIT_SHARE
        with self._cond:
            while not job.done:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            job.handed_over = True
            results = dict(job.results)
        waited = self._clock() - began
        capture = {}
        for kind in (DOMAIN_XML, SCREENSHOT):
            if kind in results:
                capture[kind] = write_capture(job.folder, kind,
                                                    results[kind])
            else:
                capture[kind] = ('pending after %.2f s: written if it comes '
                                 'within %.0f s' % (waited, self._late))
        return capture

    def _arrived_late(self, job: _Job, kind: str, value: object) -> None:
        after = self._clock() - job.began
        if after > self._late:
            LOG.info('Dropped the %s of instance %s: it came after %.1f s',
                     kind, job.uuid, after)
            note = 'dropped: came after %.1f s' % after
        else:
            try:
                note = write_capture(job.folder, kind, value)
            except OSError as exc:
                LOG.info('Cannot write the late %s of instance %s: %s',
                         kind, job.uuid, exc)
                return
            note += ' (after %.1f s)' % after
        with job.write_lock:
            job.late[kind] = note
            if not job.verdict or not job.folder.is_dir():
                return      # the caller writes the note with the verdict
            job.verdict['capture'][kind] = note
            try:
                write_json(job.folder / VERDICT, job.verdict)
            except OSError as exc:
                LOG.info('Cannot update %s: %s', job.folder / VERDICT, exc)

    def _write_verdict(self, job: _Job | str, folder: pathlib.Path,
                       verdict: dict[str, Any]) -> None:
        if isinstance(job, str):
            write_json(folder / VERDICT, verdict)
            return
        with job.write_lock:
            # A late result may have come between collect and now.
            verdict['capture'].update(job.late)
            job.verdict = verdict
            write_json(folder / VERDICT, verdict)



def _host_facts() -> dict[str, object]:
    facts: dict[str, object] = {'hostname': socket.gethostname(),
                                'pid': os.getpid()}
    try:
        facts['load_average'] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return facts
