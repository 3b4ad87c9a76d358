"""Options of the [libvirt] group."""

from oslo_config import cfg

from masakari_introspect.conf.group import option_group

libvirt_group = cfg.OptGroup(
    'libvirt',
    title='libvirt connection',
    help='How the monitor reaches the local libvirt daemon.')

_FOLLOWS_FROM_BUDGET = ('The probe connections follow from the worker budget '
                        '([libvirt] max_workers and worker_share) and '
                        'max_client_requests; this value is ignored.')



def _ignored_connections(name: str, default: int, maximum: int,
                         which: str) -> cfg.IntOpt:
    """A former count of probe connections, for guests that ``which``
    their last probe; deprecated and ignored."""
    return cfg.IntOpt(
        name,
        default=default,
        min=1,
        max=maximum,
        deprecated_for_removal=True,
        deprecated_reason=_FOLLOWS_FROM_BUDGET,
        help="""
Ignored: the probe connections follow from the worker budget. Formerly the
number of libvirt connections for probing guests that %s
their last probe.

Related options:

* ``max_workers``, ``worker_share``
""" % which)


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
        'max_workers',
        default=20,
        min=1,
        help="""
How many worker threads libvirtd serves RPCs on: its own ``max_workers``
setting in ``libvirtd.conf`` (or ``virtqemud.conf``), 20 unless changed
there. The service cannot read it; tell it here if you changed it.

A guest agent call holds its worker until the agent answers or libvirt gives
up on it (a hung agent: the probe timeout, then five seconds for every later
call). The service's agent calls in flight never exceed the budget
``B = max(2, floor(max_workers * worker_share))``, so that libvirtd always
has workers for the statistics call, for Nova and for Masakari's recovery.
The start-up log names the budget.

Related options:

* ``worker_share``, ``max_client_requests``
"""),
    cfg.FloatOpt(
        'worker_share',
        default=0.5,
        min=0.0,
        max=1.0,
        help="""
The share of libvirtd's ``max_workers`` the service's guest agent calls may
take at once. Guests that did not answer their last probe get at most
``ceil(B / 5)`` of the budget ``B``, guests that answer the rest. Probes
beyond it wait in the service's queues: a healthy guest's wait never counts
against it, a suspect guest's counts as a missed interval.

How many guests hanging at once delay their reports and the probes of
healthy guests is stated in the operations guide ("libvirtd's workers").

Possible values:

* A number above 0 and at most 1. Raise it (or libvirtd's ``max_workers``)
  on a host where many guests may hang at once and nothing else needs
  libvirtd's workers.

Related options:

* ``max_workers``
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

The service opens as many probe connections as its worker budget needs with
this many calls on each. The main connection only carries events, listings
and statistics.

Related options:

* ``max_workers``, ``worker_share``
"""),
    _ignored_connections('probe_connections', 48, 64, 'answered'),
    _ignored_connections('suspect_connections', 2, 16, 'did not answer'),
]


register_opts, list_opts = option_group(libvirt_group, libvirt_opts)
