"""What the metrics say of the present, read from the service at scrape
time: each instance's state, the pending notifications, the libvirt
connection, and the agent calls against the worker budget."""

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import InfoMetricFamily
from prometheus_client.metrics_core import Metric

from oslo_log import log as logging

from masakari_introspect.core.model import Phase
from masakari_introspect.core.status import LIMITED
from masakari_introspect.core.status import MAINTENANCE
from masakari_introspect.core.status import NOT_MONITORED
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.ops.app_metrics import application_families
from masakari_introspect.ops.view import Source
from masakari_introspect.recovery.outbox import PendingNotification

# Scrape-time messages belong with the metrics.
LOG = logging.getLogger('masakari_introspect.ops.metrics')

PREFIX = 'masakari_introspect_'
# What each phase says of the agent, as instance_agent_up: 1.0 it
# answered its last probe, 0.0 it did not (or not yet), None it is not
# probed now (no series). Every Phase has a line here; a unit test
# enumerates them. (In maintenance there is no series either.)
AGENT_UP: dict[Phase, float | None] = {
    Phase.GRACE: 0.0,            # (re)started, no answer yet
    Phase.HEALTHY: 1.0,
    Phase.FAILING: 0.0,
    Phase.ACTIVE: 0.0,           # agent failed, the guest works
    Phase.FAILED: 0.0,
    Phase.NO_AGENT: 0.0,
    Phase.PAUSED: None,
    Phase.FAILURE_PAUSE: None,
    Phase.AGENT_LOST: 0.0,       # port closed, the kernel lives
    Phase.KDUMP: 0.0,            # crash loaded: a crash kernel runs
}


class CallsCollector:
    """Agent calls against libvirtd's worker budget."""

    def __init__(self, calls: Callable[[], dict[str, tuple[int, int]]],
                 budget: int) -> None:
        self._calls = calls
        self._budget = budget

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield _gauge('agent_call_budget',
                     "Guest agent calls the service may have in flight at "
                     "once: [libvirt] max_workers x worker_share.",
                     float(self._budget))
        in_flight = GaugeMetricFamily(
            PREFIX + 'agent_calls_in_flight',
            'Guest agent calls inside libvirtd now, by probe lane (healthy, '
            'suspect, application: application probes\' calls, which take '
            'healthy-lane slots); a call the service gave up on counts '
            'until libvirt returns it.', labels=['lane'])
        queued = GaugeMetricFamily(
            PREFIX + 'agent_calls_queued',
            'Probes waiting for the worker budget, by probe lane.',
            labels=['lane'])
        for lane, (running, waiting) in sorted(self._calls().items()):
            in_flight.add_metric([lane], float(running))
            queued.add_metric([lane], float(waiting))
        yield in_flight
        yield queued


class StateCollector:
    """Per-instance and per-service gauges, read from a Source."""

    def __init__(self, source: Source) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return []   # nothing to read before the first scrape

    def collect(self) -> Iterator[Metric]:
        yield _gauge('libvirt_connected',
                     'Whether the service is connected to libvirtd (1/0).',
                     float(self._source.libvirt_connected()))
        yield _gauge('spool_depth',
                     'Notifications in the spool not yet accepted by '
                     'Masakari.', float(self._source.pending()))
        yield from _pending_families(self._source.pending_notifications())
        try:
            instances = self._source.instances()
        except TimeoutError:
            LOG.warning('The monitor did not answer in time; metrics served '
                        'without per-instance values')
            instances = None
        except Exception:
            LOG.exception('Cannot read the instances for metrics')
            instances = None
        yield _gauge('monitor_responsive',
                     'Whether the monitor answered this scrape in time (1/0); '
                     'if 0 the per-instance series are missing.',
                     float(instances is not None))
        if instances is not None:
            yield from _instance_families(instances)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value)


def _per_uuid(name: str, documentation: str) -> GaugeMetricFamily:
    """A gauge with one series per instance, labelled by its uuid."""
    return GaugeMetricFamily(PREFIX + name, documentation, labels=['uuid'])


def _pending_families(pending: Sequence[PendingNotification]
                      ) -> Iterator[Metric]:
    """Each notification the sender still works on, and the oldest age."""
    age = _per_uuid('notification_pending_age_seconds',
                    'Seconds since the sender first saw a notification it '
                    'has not carried out yet (monotonic, this process).')
    attempts = _per_uuid('notification_pending_attempts',
                         'Attempts made on a pending notification by this '
                         'process.')
    failing = _per_uuid('notification_pending_failing',
                        'Whether the last attempt on a pending notification '
                        'failed (1/0); the status command shows the error.')
    for item in pending:
        age.add_metric([item.instance_uuid], item.age)
        attempts.add_metric([item.instance_uuid], float(item.attempts))
        failing.add_metric([item.instance_uuid], float(bool(item.last_error)))
    yield from (age, attempts, failing)
    yield _gauge('notification_pending_oldest_age_seconds',
                 'Age of the oldest pending notification (0 if none).',
                 max((item.age for item in pending), default=0.0))


def _agent_up(status: InstanceStatus) -> float | None:
    if status.maintenance or status.phase is None or not status.monitored:
        return None
    return AGENT_UP[status.phase]


def _instance_families(instances: Sequence[InstanceStatus]
                       ) -> Iterator[Metric]:
    info = InfoMetricFamily(
        PREFIX + 'instance', 'A monitored instance and its domain name.',
        labels=['uuid'])
    state = GaugeMetricFamily(
        PREFIX + 'instance_state',
        'Current state of an instance: one series per instance, value 1. '
        + ', '.join([phase.value for phase in Phase] + [LIMITED, MAINTENANCE,
                                                 NOT_MONITORED])
        + '.', labels=['uuid', 'state'])
    agent_up = _per_uuid(
        'instance_agent_up',
        'Whether the guest agent answered its last probe (1/0); absent while '
        'the instance is not probed (paused, failure_pause, maintenance).')
    misses = _per_uuid('instance_consecutive_misses',
                       'Consecutive guest-pings the agent did not answer.')
    success_age = _per_uuid(
        'instance_last_success_age_seconds',
        'Seconds since the agent last answered; absent if it has not '
        'answered since the service started.')
    maintenance = _per_uuid(
        'instance_maintenance',
        'Whether the operator excluded the instance from monitoring (1/0).')
    notified = _per_uuid(
        'instance_last_notification_timestamp_seconds',
        'When the instance was last reported by this process (Unix time); '
        'absent if never.')
    heartbeat_age = _per_uuid(
        'instance_heartbeat_age_seconds',
        'Seconds since the guest kernel last answered the balloon statistics '
        'request (the kernel heartbeat); absent while it is not in use.')
    starved = _per_uuid(
        'instance_starved_intervals',
        'Statistics intervals in which a vCPU of the guest waited for a host '
        'CPU more than half the interval and ran less than a tenth of it '
        '(since the instance was found).')
    for status in instances:
        key = [status.uuid]
        info.add_metric(key, {'name': status.name})
        state.add_metric([status.uuid, status.label], 1.0)
        _add(agent_up, key, _agent_up(status))
        misses.add_metric(key, float(status.misses))
        _add(success_age, key, status.seconds_since_success)
        maintenance.add_metric(key, float(status.maintenance))
        _add(notified, key, status.last_notification)
        _add(heartbeat_age, key, status.heartbeat_age)
        starved.add_metric(key, float(status.starved_intervals))
    yield from (info, state, agent_up, misses, success_age, maintenance,
                notified, heartbeat_age, starved)
    yield from application_families(instances)


def _add(family: GaugeMetricFamily, key: list[str],
         value: float | None) -> None:
    """One series of ``family``, unless ``value`` is None (no series)."""
    if value is not None:
        family.add_metric(key, value)
