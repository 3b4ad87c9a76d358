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
    cfg.IntOpt(
        'max_client_requests',
        default=5,
        min=1,
        max=1000,
        help="""
How many calls libvirtd serves at once on one client connection: its own
``max_client_requests`` setting in ``libvirtd.conf`` (or ``virtqemud.conf``),
5 unless changed there. The service cannot read it; tell it here if you
changed it.

Calls beyond it wait in libvirtd, and a call to a hung guest agent holds its
slot for the probe timeout, then five seconds for every later call. The
service sizes its probe lanes from it: guests that answered their last probe
are probed on ``probe_connections`` connections, guests that may be hung on
``suspect_connections`` others, each with this many probes at once (and at
most ``[introspection] max_concurrent_probes`` per lane). The main
connection only carries events, listings and statistics.

Related options:

* ``probe_connections``, ``suspect_connections``
"""),
    cfg.IntOpt(
        'probe_connections',
        default=48,
        min=1,
        max=64,
        help="""
Number of libvirt connections for probing guests that answered their last
probe. When many guests hang at once (a storage outage), each one's first
probe still goes to this lane and holds a slot for ``probe_timeout``: enough
slots let every hung guest be found within one interval while the healthy
ones keep their pace. Connections are opened only when used (the least
busy one is taken, so a quiet host uses one or two); each costs a socket.

Related options:

* ``max_client_requests``, ``[introspection] max_concurrent_probes``
"""),
    cfg.IntOpt(
        'suspect_connections',
        default=2,
        min=1,
        max=16,
        help="""
Number of libvirt connections used to probe guests that did not answer their
last probe (failing, failed, booting), each with ``max_client_requests``
probes at once. A probe that waits because they are all busy counts as a
missed interval, so detection time does not grow with the number of hung
guests; more connections only let a recovered guest be seen sooner.

Related options:

* ``max_client_requests``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(libvirt_group)
    conf.register_opts(libvirt_opts, group=libvirt_group)


def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
    return {libvirt_group: libvirt_opts}
