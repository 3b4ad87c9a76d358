"""The state of one application probe of one guest (see
:mod:`masakari_introspect.core.application` for its rules)."""

from typing import Any

from masakari_introspect.core.app_run import RunResult
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.status import AppProbeStatus


class ProbeState:
    """One probe of one guest."""

    def __init__(self, probe: AppProbe) -> None:
        self.probe = probe
        self.due = 0                        # tick of the next turn
        self.token: int | None = None       # the run out
        self.sent = 0                       # ... asked for at this tick
        self.began: int | None = None       # ... its command started at
        self.overran = False                # ... not judged: counted
        #                                     failed at a turn, or voided
        self.lingering: int | None = None   # pid of a run left running
        self.failures = 0                   # failed runs in a row
        self.failing = False                # in a failure episode
        self.reported = False               # ... and reported
        self.refused: str | None = None     # the command refused (warned)
        self.frozen = False                 # a freeze refused it (said)
        self.last: RunResult | None = None
        self.runs = 0
        self.failed_runs = 0
        self.last_duration: float | None = None

    def record(self) -> dict[str, Any]:
        """The forensics entry of the episode: the last run."""
        last = self.last
        return {'application_probe': self.probe.name,
                'exec': list(self.probe.exec),
                'failed_runs_in_a_row': self.failures,
                'outcome': last.outcome.value if last else None,
                'exit_code': last.exit_code if last else None,
                'output': last.output if last else '',
                'output_truncated': last.truncated if last else False,
                'detail': last.detail if last else '',
                'duration': round(last.duration, 3) if last else None}

    def view(self) -> AppProbeStatus:
        return AppProbeStatus(
            self.probe.name, self.probe.on_failure.value, self.failing,
            self.failures, self.runs, self.failed_runs, self.last_duration,
            None if self.last is None else self.last.exit_code,
            self.refused is not None)
