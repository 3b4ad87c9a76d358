"""Options of the [libvirt] group."""

from oslo_config import cfg

libvirt_group = cfg.OptGroup(
    'libvirt',
    title='libvirt connection',
    help='How the monitor reaches the local libvirt daemon.')

libvirt_opts = [
    cfg.StrOpt(
        'connection_uri',
        default='qemu:///system',
        help="""
libvirt connection URI.

The connection must be read-write: guest agent commands are refused on a
read-only connection.

Possible values:

* ``qemu:///system`` on a compute node.
* ``test:///default`` only for tests (it has no guest agent).
"""),
    cfg.IntOpt(
        'keepalive_interval',
        default=5,
        min=1,
        help="""
Seconds between keepalive messages on the libvirt connection.

Together with ``keepalive_count`` this bounds how long a dead libvirtd goes
unnoticed when no close event arrives.

Related options:

* ``keepalive_count``
"""),
    cfg.IntOpt(
        'keepalive_count',
        default=3,
        min=1,
        help="""
Number of unanswered keepalive messages after which the libvirt connection is
considered dead and re-opened.

Related options:

* ``keepalive_interval``
"""),
    cfg.FloatOpt(
        'reconnect_interval_max',
        default=30.0,
        min=1.0,
        help="""
Upper bound, in seconds, of the exponential backoff between attempts to
(re)connect to libvirtd. Attempts start one second apart and double until this
bound. The service never exits because libvirtd is unavailable.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(libvirt_group)
    conf.register_opts(libvirt_opts, group=libvirt_group)


def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
    return {libvirt_group: libvirt_opts}
