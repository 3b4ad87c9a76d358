"""After a verdict: forensics, the durable spool, the sender and the
recovery drivers (Masakari, libvirt, a command, dry run).

:func:`load_driver` is the one place that knows the drivers by name; the
drivers are imported only when chosen, so that importing this package loads
neither keystoneauth1 nor libvirt.
"""

from oslo_config import cfg

from masakari_introspect.recovery.driver import Driver
from masakari_introspect.recovery.forensics_first import Captures
from masakari_introspect.recovery.forensics_first import ForensicsFirst

DRIVERS = ('masakari', 'libvirt', 'command')


def load_driver(conf: cfg.ConfigOpts,
                captures: Captures | None = None) -> Driver:
    """The driver chosen by ``[recovery] driver``.

    With ``captures`` (forensics on), a local driver acts only once the
    guest's forensics are written or their budget is spent; the Masakari
    driver posts at once (Masakari's own stop comes later anyway).
    """
    recovery = conf.recovery
    driver: Driver
    if recovery.driver == 'libvirt':
        from masakari_introspect.recovery.libvirt import LibvirtRecovery
        driver = LibvirtRecovery.from_conf(conf)
    elif recovery.driver == 'command':
        from masakari_introspect.recovery.command import CommandRecovery
        driver = CommandRecovery(recovery.command, recovery.command_timeout)
    else:
        from masakari_introspect.recovery.masakari import MasakariNotifier
        return MasakariNotifier.from_conf(conf)
    return driver if captures is None else ForensicsFirst(driver, captures)


def dry_run_action(conf: cfg.ConfigOpts) -> str:
    """What a local driver would have done, for the dry_run log line; ''
    for Masakari (the body is logged instead)."""
    recovery = conf.recovery
    if recovery.driver == 'libvirt':
        return '%s the domain through libvirt' % (
            'reset' if recovery.libvirt_action == 'reset' else 'restarted')
    if recovery.driver == 'command':
        return 'run %s' % ' '.join(recovery.command)
    return ''
