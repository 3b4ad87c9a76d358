"""A guest's own probe interval: a whole multiple of the configured one.

The fleet ticks once per configured ``probe_interval``; a guest whose
policy sets ``k`` times that interval has its interval closed, and is
probed, on every k-th tick only (so its failure window is its threshold
times its own interval). Pure.
"""

from masakari_introspect.core.policy import Policy
from masakari_introspect.core.watched import Watched


def ticks_per_interval(watched: Watched, base: Policy) -> int:
    """How many of the fleet's ticks make one interval of this guest."""
    return max(1, round(watched.state.policy.probe_interval
                        / base.probe_interval))


def turn(watched: Watched, base: Policy, ticks: int) -> bool:
    """Tick number ``ticks`` ends one of this guest's intervals."""
    return ticks % ticks_per_interval(watched, base) == 0


def settled_turn(watched: Watched, base: Policy, ticks: int) -> bool:
    """A guest judged already is probed once per failure window."""
    return (ticks // ticks_per_interval(watched, base)) % \
        watched.state.policy.failure_threshold == 0
