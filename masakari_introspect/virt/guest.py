"""One libvirt domain as the monitor sees it: ping, describe, statistics.

Functions here take a live connection or domain and never keep one; they
turn libvirt's answers and errors into the project's plain values.
"""

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

try:
    import libvirt
    import libvirt_qemu
except ImportError:  # pragma: no cover - unit tests run without the binding
    libvirt = None
    libvirt_qemu = None

from masakari_introspect.core.model import Activity
from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import GUEST_OSINFO
from masakari_introspect.core.model import GUEST_PING
from masakari_introspect.core.model import Outcome
from masakari_introspect.core.model import PauseReason
from masakari_introspect.core.model import ProbeResult
from masakari_introspect.core.starvation import VcpuTimes
from masakari_introspect.virt import errors
from masakari_introspect.virt import metadata
from masakari_introspect.virt import translate
from masakari_introspect.virt.balloon import BalloonPeriods
from masakari_introspect.virt.schedstat import SchedStats

LOG = logging.getLogger(__name__)

Lose = Callable[['libvirt.virConnect', str], None]

# virDomainStatsTypes groups, and virConnectGetAllDomainStatsFlags (NOWAIT
# keeps a stuck domain job from blocking the call).
STATS_INTERFACE = 16
STATS_BLOCK = 32
STATS_BALLOON = 4
STATS_VCPU = 8
STATS_ACTIVE = 1
STATS_NOWAIT = 1 << 29


def parse_reply(uuid: str, reply: str, started: float) -> ProbeResult:
    """Any reply is the agent's: with ``return`` it is OK, anything else
    (an error object, something malformed) still shows the agent alive."""
    duration = time.monotonic() - started
    try:
        answer = json.loads(reply)
    except (TypeError, ValueError):
        answer = None
    if isinstance(answer, dict) and 'return' in answer:
        return ProbeResult(uuid, Outcome.OK, duration=duration)
    return ProbeResult(uuid, Outcome.AGENT_ERROR, 'agent reply without '
                       '"return": %.100r' % (reply,), duration=duration)


def ping(conn: 'libvirt.virConnect | None', uuid: str, timeout: int,
         lose: Lose, osinfo: bool = False) -> ProbeResult:
    """guest-ping on ``conn``; ``lose`` hears of a dead connection. With
    ``osinfo``, an agent that answered is also asked its OS id
    (``guest-get-osinfo``), carried in the result's ``os_id``.

    Never raises.
    """
    started = time.monotonic()
    if conn is None:
        return ProbeResult(uuid, Outcome.CONNECTION, 'not connected')
    dom = None
    try:
        dom = conn.lookupByUUIDString(uuid)
        reply = libvirt_qemu.qemuAgentCommand(dom, GUEST_PING, timeout, 0)
    except libvirt.libvirtError as exc:
        return _failed(conn, dom, uuid, exc, started, lose)
    except Exception as exc:
        LOG.exception('Unexpected failure pinging %s', uuid)
        return ProbeResult(uuid, Outcome.ERROR, repr(exc),
                           duration=time.monotonic() - started)
    result = parse_reply(uuid, reply, started)
    if osinfo and result.outcome is Outcome.OK:
        result = dataclasses.replace(result, os_id=os_id(dom, uuid, timeout))
    return result


def os_id(dom: 'libvirt.virDomain', uuid: str, timeout: int
          ) -> str | None:
    """The guest OS's id from its agent (``guest-get-osinfo``: ``linux``,
    ``mswindows``, ...); '' when the agent does not tell (an old agent, an
    error reply); None when it did not answer (a timeout, a closed port, a
    lost connection: asked again). Never raises."""
    try:
        reply = libvirt_qemu.qemuAgentCommand(dom, GUEST_OSINFO, timeout, 0)
        answer = json.loads(reply)
        found = answer['return'].get('id', '')
    except libvirt.libvirtError as exc:
        outcome = errors.classify(exc.get_error_code(),
                                  exc.get_error_domain(),
                                  exc.get_error_message() or '')
        LOG.debug('guest-get-osinfo of %s: no OS id (%s)', uuid, exc)
        return '' if outcome in (Outcome.AGENT_ERROR,
                                 Outcome.NOT_CONFIGURED) else None
    except Exception as exc:     # malformed replies
        LOG.debug('guest-get-osinfo of %s: no OS id (%s)', uuid, exc)
        return ''
    return found if isinstance(found, str) else ''


def _failed(conn: 'libvirt.virConnect', dom: 'libvirt.virDomain | None',
            uuid: str, exc: 'libvirt.libvirtError', started: float,
            lose: Lose) -> ProbeResult:
    code, domain = exc.get_error_code(), exc.get_error_domain()
    message = exc.get_error_message() or ''
    outcome = errors.classify(code, domain, message)
    detail = '%s (code %s, domain %s)' % (message, code, domain)
    pause = PauseReason.NONE
    if outcome is Outcome.CONNECTION:
        lose(conn, message)
    elif outcome in _RECHECKED and dom is not None:
        outcome, pause = _recheck(dom, outcome)
        if outcome is Outcome.NOT_RUNNING:
            detail = pause.value
    return ProbeResult(uuid, outcome, detail,
                       duration=time.monotonic() - started, error_code=code,
                       pause=pause)


# Outcomes that may be caused by the domain's state rather than the agent.
_RECHECKED = (Outcome.MISS, Outcome.DISCONNECTED, Outcome.ERROR,
              Outcome.BUSY,          # another caller's agent job
              Outcome.NOT_RUNNING)   # ... and why it does not run


def _recheck(dom: 'libvirt.virDomain', outcome: Outcome
             ) -> tuple[Outcome, PauseReason]:
    """A miss only counts if the domain runs and no job holds it."""
    try:
        state, reason = dom.state()
        if state != libvirt.VIR_DOMAIN_RUNNING:
            return Outcome.NOT_RUNNING, translate.state_reason(state, reason)
        if _job_running(dom):
            return Outcome.JOB, PauseReason.NONE
    except libvirt.libvirtError as exc:
        # A connection error ends this probe without a miss; the next call
        # on the connection finds it dead.
        checked = errors.classify(exc.get_error_code(),
                                  exc.get_error_domain())
        if checked is Outcome.CONNECTION:
            return checked, PauseReason.NONE
    return outcome, PauseReason.NONE


def _job_running(dom: 'libvirt.virDomain') -> bool:
    """A migration, dump, save, backup or snapshot job holds the domain.

    The control state shows a job only while libvirt talks to QEMU for
    it; the job's own information shows it for as long as it lasts.
    """
    if dom.controlInfo()[0] == libvirt.VIR_DOMAIN_CONTROL_JOB:
        return True
    return dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_BOUNDED,
                                libvirt.VIR_DOMAIN_JOB_UNBOUNDED)


def describe(dom: 'libvirt.virDomain') -> DomainInfo:
    """Raises libvirtError if the domain vanished while being read."""
    state, reason = dom.state()
    active = dom.isActive()
    xml = dom.XMLDesc(0) if active else ''
    channel = translate.agent_channel_state(xml) if xml else None
    facts = metadata.read(xml) if xml else metadata.Facts()
    return DomainInfo(
        uuid=dom.UUIDString(), name=dom.name(),
        running=state == libvirt.VIR_DOMAIN_RUNNING,
        has_agent_channel=channel is not None,
        domain_id=dom.ID() if active else -1,
        agent_connected=channel == 'connected',
        state_reason=translate.state_reason(state, reason),
        blind_spots=translate.blind_spots(xml) if xml else (),
        display_name=facts.display_name, flavor=facts.flavor,
        project=facts.project, policy=facts.policy)


def activities(conn: 'libvirt.virConnect',
               balloons: 'BalloonPeriods | None' = None) -> list[Activity]:
    """Disk requests and packets sent of every active domain, in one call;
    with ``balloons``, also each guest's kernel heartbeat. (The vCPU
    figures come from a call of their own: :func:`vcpu_times`.)

    Raises libvirtError.
    """
    groups = STATS_BLOCK | STATS_INTERFACE
    if balloons is not None:
        groups |= STATS_BALLOON
    records = conn.getAllDomainStats(groups, STATS_ACTIVE | STATS_NOWAIT)
    found = _activities(records, balloons)
    if balloons is not None:
        balloons.keep({a.uuid for a in found})
    return found


def activities_of(conn: 'libvirt.virConnect', uuids: tuple[str, ...],
                  balloons: 'BalloonPeriods | None' = None
                  ) -> list[Activity]:
    """The same figures as :func:`activities`, of these domains only, in
    one call (``domainListGetStats``, NOWAIT); those gone or not running
    are left out.

    Raises libvirtError (a connection error; a domain gone is left out).
    """
    domains = []
    for uuid in uuids:
        try:
            domains.append(conn.lookupByUUIDString(uuid))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != errors.ERR_NO_DOMAIN:
                raise
    if not domains:
        return []
    groups = STATS_BLOCK | STATS_INTERFACE
    if balloons is not None:
        groups |= STATS_BALLOON
    return _activities(conn.domainListGetStats(
        domains, groups, STATS_ACTIVE | STATS_NOWAIT), balloons)


def _activities(records: list[tuple[Any, dict[str, Any]]],
                balloons: 'BalloonPeriods | None') -> list[Activity]:
    # No earlier than any stamp's sampling: a stamp this old is late.
    wall = time.time()
    found = []
    for dom, stats in records:
        try:
            uuid = dom.UUIDString()
            period = balloons.period(dom, uuid, heartbeat(stats), wall) \
                if balloons else 0
            found.append(activity(uuid, stats, period))
        except libvirt.libvirtError:
            continue
    return found


def activity(uuid: str, stats: dict[str, Any], period: int = 0) -> Activity:
    """The guest's own work (and heartbeat) from one statistics record."""
    disk = sum(int(stats.get('block.%d.%s.reqs' % (i, op), 0))
               for i in range(int(stats.get('block.count', 0)))
               for op in ('rd', 'wr'))
    sent = sum(int(stats.get('net.%d.tx.pkts' % i, 0))
               for i in range(int(stats.get('net.count', 0))))
    return Activity(uuid, disk, sent, heartbeat=heartbeat(stats),
                    heartbeat_period=period)


def heartbeat(stats: dict[str, Any]) -> int | None:
    """``balloon.last-update`` (None: missing, e.g. while a job holds the
    domain, or 0: never answered)."""
    stamp = stats.get('balloon.last-update')
    return int(stamp) if isinstance(stamp, int) and stamp else None


def vcpu_times(conn: 'libvirt.virConnect') -> dict[str, VcpuTimes]:
    """Each active domain's vCPU run time and run delay, by UUID, in one
    call of the ``VCPU`` group alone (NOWAIT). Where the host's scheduler
    statistics cannot be read (:func:`vcpu_times_local`): libvirt 8.10 and
    later also ask a QEMU that has ``query-stats`` in that group, unless
    another job holds the domain, so a starved guest's figures may come
    late.

    Raises libvirtError.
    """
    records = conn.getAllDomainStats(STATS_VCPU, STATS_ACTIVE | STATS_NOWAIT)
    found = {}
    for dom, stats in records:
        try:
            found[dom.UUIDString()] = vcpus(stats)
        except libvirt.libvirtError:
            continue
    return found


def vcpu_times_local(conn: 'libvirt.virConnect', sched: SchedStats
                     ) -> dict[str, VcpuTimes] | None:
    """Each active domain's vCPU figures from the host's scheduler
    statistics (listing the domains takes no job and asks no QEMU); None
    if running domains were found but none could be read there.

    Raises libvirtError.
    """
    domains = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    found = {}
    names = []
    for dom in domains:
        try:
            names.append(dom.name())
            times = sched.read(names[-1])
            if times is not None:
                found[dom.UUIDString()] = times
        except libvirt.libvirtError:
            continue
    sched.keep(names)
    return found if found or not domains else None


def vcpus(stats: dict[str, Any]) -> VcpuTimes:
    """Per vCPU (run time, wait for a host CPU), ns, from one record."""
    return tuple((int(stats.get('vcpu.%d.time' % i, 0)),
                  int(stats.get('vcpu.%d.delay' % i, 0)))
                 for i in range(int(stats.get('vcpu.current', 0))))
