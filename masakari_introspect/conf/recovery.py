"""Options of the [recovery] group: who recovers a failed guest, and how often.

``driver = masakari`` (the default) notifies the Masakari API; ``libvirt``
and ``command`` recover on this host without OpenStack. Every driver goes
through the same durable spool (exactly one successful action per failure
episode), the same storm limit, forensics and ``dry_run``.
"""

from oslo_config import cfg

from masakari_introspect.conf.group import option_group

DRIVERS = ('masakari', 'libvirt', 'command')
LIBVIRT_ACTIONS = ('reset', 'restart')

recovery_group = cfg.OptGroup(
    'recovery',
    title='Recovery of failed guests',
    help="""
What is done about a guest found failed, and limits on doing it.

With ``driver = libvirt`` or ``driver = command`` no ``[masakari]``
(Keystone) option is needed.
""")

recovery_opts = [
    cfg.StrOpt(
        'driver',
        default='masakari',
        choices=[
            ('masakari', 'Notify the Masakari instance-ha API, which stops '
                         'and starts the instance through Nova.'),
            ('libvirt', 'Recover the guest on this host through libvirt, '
                        'as set by ``libvirt_action``.'),
            ('command', 'Run ``command`` (for example a Pacemaker or '
                        'other cluster manager hook).'),
        ],
        help="""
Who recovers a failed guest.

Possible values:

* ``masakari``: send a ``QEMU_GUEST_AGENT_ERROR`` notification to Masakari;
* ``libvirt``: the monitor resets or restarts the domain itself;
* ``command``: the monitor runs ``command``.

Related options:

* ``[masakari]`` (only with ``masakari``), ``libvirt_action``, ``command``,
  ``command_timeout``
"""),
    cfg.StrOpt(
        'libvirt_action',
        default='reset',
        choices=[
            ('reset', 'virDomainReset: a hardware reset, same QEMU process.'),
            ('restart', 'Destroy the domain, then start it again (a '
                        'transient one is reset); a new QEMU process.'),
        ],
        help="""
What the ``libvirt`` driver does to a failed guest that is running.

Whatever this says, a domain shut off by a crash is started, and one paused
by an I/O error, a watchdog or a crash is destroyed and started (reset and
resumed when transient). The attempt succeeds when the domain runs again;
the monitor then logs whether the guest agent answered again and how long
that took.

Possible values:

* ``reset``: like pressing the reset button; fast, keeps the QEMU process;
* ``restart``: destroy, then start the persistent domain definition; also
  recovers a hung QEMU process. A transient domain is reset instead.

Related options:

* ``driver``
"""),
    cfg.ListOpt(
        'command',
        default=[],
        help="""
The hook run by the ``command`` driver, as an argument list: the program
then its arguments, separated by commas (an argument cannot contain a comma).
No shell is involved.

Its environment holds ``MI_INSTANCE_UUID``, ``MI_INSTANCE_NAME``,
``MI_REASON``, ``MI_HOST``, ``MI_FORENSICS`` (a folder, or empty) and
``MI_GENERATED_TIME``. Exit status 0 means recovered; anything else, or
running longer than ``command_timeout``, is retried with backoff like a
failed delivery. Its output is logged. A hook interrupted by a crash of the
monitor is run again after the restart, so it should be idempotent.

Possible values:

* for example ``/usr/local/sbin/mi-recover,--cluster``

Related options:

* ``driver``, ``command_timeout``, ``[masakari] retry_interval``
"""),
    cfg.IntOpt(
        'command_timeout',
        default=30,
        min=1,
        help="""
Seconds the ``command`` hook may run; it is then killed (its whole process
group) and the attempt counts as failed.

Related options:

* ``command``
"""),
    cfg.IntOpt(
        'max_recoveries',
        default=3,
        min=1,
        help="""
Storm limit: at most this many recoveries of one instance within ``window``
seconds. A guest failing again after that is logged and not recovered again
until the window has passed.

Related options:

* ``window``
"""),
    cfg.IntOpt(
        'window',
        default=3600,
        min=1,
        help="""
Seconds over which ``max_recoveries`` is counted.

Related options:

* ``max_recoveries``
"""),
    cfg.BoolOpt(
        'forensics',
        default=True,
        help="""
Before recovering, save what is known about the failed guest (its state, the
last probe results) in a folder under ``[DEFAULT] state_path``; its path is
passed to the recovery driver (``MI_FORENSICS`` for a command).

Related options:

* ``forensics_keep``
"""),
    cfg.IntOpt(
        'forensics_keep',
        default=10,
        min=1,
        help="""
Number of forensics folders kept; older ones are deleted.

Related options:

* ``forensics``
"""),
]


register_opts, list_opts = option_group(recovery_group, recovery_opts)
