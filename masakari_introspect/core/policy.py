"""The rules instances are judged by, as configured: the host-wide
:class:`Settings` and each instance's :class:`Policy`."""

import dataclasses
import enum
from typing import Any


class AgentLoss(enum.Enum):
    """What an agent that closed its port while the kernel lives gets."""

    WARN = 'warn'        # one WARNING, not reported while the kernel lives
    REPORT = 'report'    # judged by its misses, as any agent


class OnFailure(enum.Enum):
    """What an application probe's failure episode gets."""

    REPORT = 'report'    # reported with reason ``application``
    WARN = 'warn'        # one WARNING; status, metrics and the check show it


@dataclasses.dataclass(frozen=True)
class AppProbe:
    """One application probe: a command run in the guest by its agent."""

    name: str
    exec: tuple[str, ...]        # argv, run with guest-exec
    timeout: float = 5.0         # seconds for the whole run
    every: int = 1               # in the guest's probe intervals
    threshold: int = 3           # consecutive failed runs
    on_failure: OnFailure = OnFailure.REPORT


@dataclasses.dataclass(frozen=True)
class Policy:
    failure_threshold: int = 3
    boot_grace_period: float = 120.0
    report_agent_never_answered: bool = False
    probe_interval: float = 10.0
    activity_check: bool = True
    # Longest a domain job (migration, dump, ...) keeps misses from counting.
    job_grace_max: float = 600.0
    # Judge the guest kernel by its balloon statistics heartbeat.
    kernel_heartbeat: bool = True
    agent_loss: AgentLoss = AgentLoss.WARN
    # After a crash-loaded event, the longest wait for a sign of life.
    kdump_timeout: float = 600.0
    # Longest a starved guest's misses do not count, per episode (0: off).
    starvation_grace: float = 120.0
    # From the policy file or the domain's metadata (issue 20):
    monitor: bool = True          # False: never probed nor reported
    probes: tuple[AppProbe, ...] = ()
    # Which rule gave this policy ('' for the configuration alone).
    rule: str = ''

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError('failure_threshold must be at least 1')
        if self.boot_grace_period < 0:
            raise ValueError('boot_grace_period must not be negative')
        if self.job_grace_max < 0:
            raise ValueError('job_grace_max must not be negative')

    @property
    def window(self) -> float:
        """The failure window: threshold x interval."""
        return self.failure_threshold * self.probe_interval


@dataclasses.dataclass(frozen=True)
class Overrides:
    """The settings of one rule of the policy file, or of a domain's own
    ``<policy>`` metadata, checked; None: not set there."""

    probe_interval: float | None = None
    failure_threshold: int | None = None
    agent_loss: AgentLoss | None = None
    monitor: bool | None = None
    probes: tuple[AppProbe, ...] | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) is not None
                   for f in dataclasses.fields(self))

    def apply(self, policy: Policy, rule: str) -> Policy:
        """``policy`` with these settings, named after ``rule``."""
        changes: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None}
        return dataclasses.replace(policy, rule=rule, **changes)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The fleet's host-wide settings: one for every instance."""

    hostname: str
    probe_timeout: float = 2.0
    max_recoveries: int = 3
    recovery_window: float = 3600.0
    # A probe not back after this long is abandoned and sent again.
    probe_deadline: float = 60.0
    # Maintenance flags and history of instances gone this long are dropped.
    forget_after: float = 7 * 86400.0
