"""What the runtime needs of libvirt, as protocols declared by their users.

:class:`Hypervisor` is the main connection the monitor lists, looks up and
reads statistics through; :class:`Prober` pings one guest's agent, for the
dispatcher. ``virt/`` provides both (``LibvirtHost`` and its side pools);
the unit tests' fakes and the benchmarks' simulated hypervisor stand in for
them. Only plain values from ``core/model.py`` cross these seams.
"""

from typing import Protocol

from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.starvation import VcpuTimes


class Prober(Protocol):
    """Pings one guest's agent; never raises."""

    def ping(self, uuid: str, timeout: int, osinfo: bool = False
             ) -> ProbeResult:
        """With ``osinfo``, also ask an answering agent its OS id."""
        ...


class Hypervisor(Protocol):
    """The main connection: listing, lookups, statistics (no pings)."""

    def list_domains(self) -> list[DomainInfo]:
        ...

    def domain_info(self, uuid: str) -> DomainInfo | None:
        ...

    def activity(self) -> list[Activity] | None:
        """Guest work counters of every running domain; None if unknown."""
        ...

    def guests_activity(self, uuids: tuple[str, ...]
                        ) -> list[Activity] | None:
        """The same figures of these running domains only (those gone or
        not running are left out); None if unknown."""
        ...

    def vcpus(self) -> dict[str, VcpuTimes] | None:
        """Each running domain's vCPU run time and run delay, by UUID, in
        a call that does not wait for QEMU; None if unknown."""
        ...
