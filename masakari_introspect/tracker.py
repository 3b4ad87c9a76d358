"""Per-instance failure detection: a pure state machine.

No I/O and no clock of its own: every method takes ``now`` (monotonic
seconds). The monitor feeds it libvirt events and probe outcomes and acts on
the :class:`Verdict` it returns.

Semantics (also in the option help and in doc/):

* the instance is reported on exactly the ``failure_threshold``-th
  consecutive miss, once per failure episode;
* a successful ping ends the episode and re-arms;
* after a start, resume, reboot, migration or agent reconnect, misses do not
  count until the agent answered once or ``boot_grace_period`` passed;
* an agent that has never answered since the domain started is, when the
  grace ends, warned about once and only reported if the policy says so;
* a paused, migrating or shutting-down domain is not probed and its count is
  reset;
* an instance in maintenance (set by the operator) is not probed and never
  reported; when maintenance ends it gets a fresh grace period.
"""

import dataclasses
import enum


class Phase(enum.Enum):
    GRACE = 'grace'        # just (re)started: misses do not count yet
    HEALTHY = 'healthy'    # the last ping was answered
    FAILING = 'failing'    # 1 .. threshold-1 consecutive misses
    FAILED = 'failed'      # reported; waiting for recovery
    NO_AGENT = 'no_agent'  # grace over, agent never answered, not reported
    PAUSED = 'paused'      # paused, migrating, shutting down: not probed


class Verdict(enum.Enum):
    NONE = 'none'
    REPORT = 'report'                  # notify Masakari now
    NEVER_ANSWERED = 'never_answered'  # warn once; not reported
    RECOVERED = 'recovered'            # answered after misses or a report


@dataclasses.dataclass(frozen=True)
class Policy:
    failure_threshold: int = 3
    boot_grace_period: float = 120.0
    report_agent_never_answered: bool = False

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError('failure_threshold must be at least 1')
        if self.boot_grace_period < 0:
            raise ValueError('boot_grace_period must not be negative')


class InstanceState:
    """Failure bookkeeping for one instance (one libvirt domain)."""

    def __init__(self, uuid: str, name: str, policy: Policy, now: float, *,
                 answered: bool = False, reported: bool = False) -> None:
        self.uuid = uuid
        self.name = name
        self.policy = policy
        self.misses = 0
        self.answered = answered    # the agent answered since domain start
        self.warned = False         # NEVER_ANSWERED said for this start
        self.last_success: float | None = None
        self.reported = reported    # this failure episode was reported
        self.phase = Phase.FAILED if reported else Phase.GRACE
        self.grace_until = now + policy.boot_grace_period
        self.maintenance = False

    # -- the operator --------------------------------------------------------

    def set_maintenance(self, on: bool, now: float) -> None:
        if on == self.maintenance:
            return
        self.maintenance = on
        self.misses = 0
        if not on and self.phase is not Phase.PAUSED:
            self.resumed(now)

    # -- libvirt events ----------------------------------------------------

    def started(self, now: float) -> None:
        """A new QEMU process: everything learnt before is void."""
        self.answered = False
        self.warned = False
        self.reported = False
        self._enter_grace(now)

    def resumed(self, now: float) -> None:
        """Resumed, rebooted, migrated in, or agent reconnected."""
        if self.reported:
            # The report stands until the agent answers: a resume or an
            # agent reconnect is no proof of recovery.
            self.phase = Phase.FAILED
            self.misses = 0
            return
        self._enter_grace(now)

    def paused(self) -> None:
        self.phase = Phase.PAUSED
        self.misses = 0

    def connection_lost(self) -> None:
        """Misses seen so far may have been the connection's fault."""
        if self.phase is Phase.FAILING:
            self.phase = Phase.HEALTHY
        self.misses = 0

    # -- probe outcomes ----------------------------------------------------

    def success(self, now: float) -> Verdict:
        recovered = self.misses > 0 or self.reported or (
            self.phase is Phase.NO_AGENT)
        self.answered = True
        self.reported = False
        self.last_success = now
        self.misses = 0
        self.phase = Phase.HEALTHY
        return Verdict.RECOVERED if recovered else Verdict.NONE

    def miss(self, now: float) -> Verdict:
        if self.maintenance or self.phase in (Phase.PAUSED, Phase.NO_AGENT):
            return Verdict.NONE
        if self.phase is Phase.FAILED:
            self.misses += 1
            return Verdict.NONE
        if self.phase is Phase.GRACE:
            if now < self.grace_until:
                return Verdict.NONE
            if not self.answered:
                return self._grace_over_without_answer()
        return self._count_miss()

    @property
    def probed(self) -> bool:
        return self.phase is not Phase.PAUSED and not self.maintenance

    # -- internals ---------------------------------------------------------

    def _enter_grace(self, now: float) -> None:
        self.phase = Phase.GRACE
        self.misses = 0
        self.grace_until = now + self.policy.boot_grace_period

    def _grace_over_without_answer(self) -> Verdict:
        first = not self.warned
        self.warned = True
        if self.policy.report_agent_never_answered:
            verdict = self._count_miss()
            if verdict is Verdict.NONE and first:
                return Verdict.NEVER_ANSWERED
            return verdict
        self.phase = Phase.NO_AGENT
        self.misses = 0
        return Verdict.NEVER_ANSWERED if first else Verdict.NONE

    def _count_miss(self) -> Verdict:
        self.misses += 1
        if self.misses >= self.policy.failure_threshold:
            self.phase = Phase.FAILED
            self.reported = True
            return Verdict.REPORT
        self.phase = Phase.FAILING
        return Verdict.NONE
