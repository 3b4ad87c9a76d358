"""The result of one guest-ping, classified, and the seam that produces it."""

import dataclasses
import enum
from typing import Protocol

GUEST_PING = '{"execute":"guest-ping"}'


class Outcome(enum.Enum):
    """What one probe says about the guest (not about libvirt or us)."""

    OK = 'ok'                    # the agent answered
    MISS = 'miss'                # not connected, or no answer in time
    NOT_RUNNING = 'not_running'  # paused or shut off: a state change
    GONE = 'gone'                # the domain no longer exists
    NOT_CONFIGURED = 'not_configured'  # no guest agent channel
    BUSY = 'busy'                # another caller holds the agent or a job
    CONNECTION = 'connection'    # the libvirt connection failed, not the guest
    ERROR = 'error'              # anything unexpected; never counted


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    uuid: str
    outcome: Outcome
    detail: str = ''
    duration: float = 0.0
    error_code: int | None = None


class Prober(Protocol):
    """Pings one guest's agent; never raises."""

    def ping(self, uuid: str, timeout: int) -> ProbeResult:
        ...
