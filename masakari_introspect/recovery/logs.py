"""What the sender says about delivery, in one place."""

from oslo_log import log as logging

from masakari_introspect.core.notification import Delivery
from masakari_introspect.core.notification import DeliveryResult
from masakari_introspect.core.notification import Notification
from masakari_introspect.recovery.driver import Driver

LOG = logging.getLogger('masakari_introspect.recovery.sender')


def describe(result: DeliveryResult) -> str:
    """The result in a few words: 'HTTP 503: ...' or the message."""
    if result.status is None:
        return result.message
    return 'HTTP %s: %s' % (result.status, result.message)


def result(driver: str, notification: Notification, outcome: DeliveryResult,
           settled: bool) -> None:
    """One line per attempt that ended something (INFO), else DEBUG."""
    uuid = notification.instance_uuid
    if settled and outcome.delivery.done:
        LOG.info('%s: the earlier attempt for instance %s (generated %s) '
                 'took effect: %s; not repeated', driver, uuid,
                 notification.generated_time, outcome.message)
    elif outcome.delivery is Delivery.DELIVERED:
        if outcome.status is not None:
            LOG.info('Masakari accepted the notification for instance %s '
                     '(HTTP %s, generated %s)', uuid, outcome.status,
                     notification.generated_time)
        else:
            LOG.info('%s recovered instance %s %s (generated %s): %s',
                     driver, notification.instance_name, uuid,
                     notification.generated_time, outcome.message)
    elif outcome.delivery is Delivery.DUPLICATE:
        LOG.info('Masakari already has the notification for instance %s '
                 '(HTTP 409, %s); counted as delivered', uuid,
                 outcome.message)
    else:
        LOG.debug('Notification for instance %s not delivered: %s', uuid,
                  describe(outcome))


def entry_condition(driver: str, notification: Notification,
                    outcome: DeliveryResult, previous: str,
                    retry_max: float, quiet: bool) -> None:
    """A change in what became of one entry; ``quiet`` for a transient
    failure already logged for the driver as a whole."""
    uuid = notification.instance_uuid
    if outcome.delivery is Delivery.TRANSIENT:
        (LOG.debug if quiet else LOG.warning)(
            '%s failed for instance %s (%s); it is retried alone, with '
            'backoff up to %.0f s', driver, uuid, describe(outcome),
            retry_max)
    elif outcome.delivery is Delivery.REJECTED and outcome.status is None:
        LOG.error('%s cannot act for instance %s: %s. This needs the '
                  'operator (check [recovery] command and that the hook '
                  'exists and is executable); retrying every %.0f s',
                  driver, uuid, outcome.message, retry_max)
    elif outcome.delivery is Delivery.REJECTED:
        LOG.error('%s refused the notification for instance %s sent as '
                  'host %s (%s): %s. This needs a configuration fix '
                  '([DEFAULT] host must be the name of this host in '
                  'Masakari; check the credentials); retrying every %.0f s',
                  driver, uuid, notification.hostname,
                  'HTTP %s' % outcome.status if outcome.status else
                  'no status', outcome.message, retry_max)
    elif outcome.delivery is Delivery.MAINTENANCE:
        LOG.warning('Masakari has host %s on maintenance (HTTP 409: %s); '
                    'the notification for instance %s is kept and sent '
                    'again every %.0f s until maintenance ends',
                    notification.hostname, outcome.message, uuid, retry_max)
    if previous == Delivery.MAINTENANCE.value and \
            outcome.delivery is not Delivery.MAINTENANCE:
        LOG.info('Host %s is no longer on maintenance in Masakari',
                 notification.hostname)


class Outage:
    """An unreachable driver (``outage_wide``, as Masakari's API), logged
    once for all entries when it goes down and when it comes back."""

    def __init__(self, driver: Driver, retry_max: float) -> None:
        self._driver = driver
        self._retry_max = retry_max
        self._down = False

    def seen(self, outcome: DeliveryResult, pending: int) -> None:
        down = outcome.delivery is Delivery.TRANSIENT
        if getattr(self._driver, 'outage_wide', False) and down != self._down:
            self._down = down
            outage(self._driver.name, outcome, self._retry_max, down,
                   pending)


def outage(driver: str, outcome: DeliveryResult, retry_max: float,
           down: bool, pending: int) -> None:
    """The driver as a whole became unreachable, or reachable again."""
    if down:
        LOG.warning('%s unavailable (%s); notifications are kept and each '
                    'retried with backoff up to %.0f s', driver,
                    describe(outcome), retry_max)
    else:
        LOG.info('%s reachable again; %d notification(s) still pending',
                 driver, max(pending - 1, 0))


def done(driver: str, notification: Notification, attempts: int) -> None:
    """An entry that had failed before is done."""
    LOG.info('%s: the notification for instance %s is done after %d '
             'attempt(s)', driver, notification.instance_uuid, attempts)


def renewed(original: Notification, renewed: Notification) -> None:
    """A notification refused as a duplicate goes again, later."""
    LOG.info('Sending the notification for instance %s again, with '
             'generated time %s (was %s)', original.instance_uuid,
             renewed.generated_time, original.generated_time)
