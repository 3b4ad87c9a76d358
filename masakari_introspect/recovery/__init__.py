"""After a verdict: forensics, the durable spool, the sender and the
recovery drivers (Masakari, libvirt, a command, dry run).

:func:`load_driver` is the one place that knows the drivers by name; the
drivers are imported only when chosen, so that importing this package loads
neither keystoneauth1 nor libvirt.
"""

from oslo_config import cfg

from masakari_introspect.recovery.driver import Driver

DRIVERS = ('masakari', 'libvirt', 'command')


def load_driver(conf: cfg.ConfigOpts) -> Driver:
    """The driver chosen by ``[recovery] driver``."""
    recovery = conf.recovery
    if recovery.driver == 'libvirt':
        from masakari_introspect.virt.recovery import LibvirtRecovery
        return LibvirtRecovery(conf.libvirt.connection_uri,
                               recovery.libvirt_action)
    if recovery.driver == 'command':
        from masakari_introspect.recovery.command import CommandRecovery
        return CommandRecovery(recovery.command, recovery.command_timeout)
    from masakari_introspect.recovery.masakari import MasakariNotifier
    return MasakariNotifier.from_conf(conf)


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
