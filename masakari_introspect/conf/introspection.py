"""Options of the [introspection] group: probing and failure detection."""

from oslo_config import cfg

UPSTREAM_GROUP = 'introspectiveinstancemonitor'

introspection_group = cfg.OptGroup(
    'introspection',
    title='Guest agent probing',
    help="""
How guests are probed with ``guest-ping`` and when a guest counts as failed.

A guest is reported on exactly the ``failure_threshold``-th consecutive missed
ping. Worst-case time to detect:

* agent gone (killed, port closed): about
  ``failure_threshold * probe_interval`` seconds;
* agent or guest kernel hung: about ``probe_timeout + (failure_threshold - 1)
  * max(probe_interval, 5)`` seconds, because libvirt spends 5 seconds
  re-synchronising with a hung agent before each later command.
""")

introspection_opts = [
    cfg.IntOpt(
        'probe_interval',
        default=10,
        min=1,
        deprecated_opts=[cfg.DeprecatedOpt('guest_monitoring_interval',
                                           group=UPSTREAM_GROUP)],
        help="""
Seconds between two probes of one guest.

Guests are probed concurrently; a guest whose probe is still running when its
next turn comes is skipped, never probed twice at once.

Related options:

* ``probe_timeout``, ``failure_threshold``
"""),
    cfg.IntOpt(
        'probe_timeout',
        default=2,
        min=1,
        deprecated_opts=[cfg.DeprecatedOpt('guest_monitoring_timeout',
                                           group=UPSTREAM_GROUP)],
        help="""
Seconds libvirt waits for the guest agent to answer ``guest-ping``.

A value of 0 is refused: libvirt's "no wait" mode fails even on a healthy
agent.

Related options:

* ``probe_interval``
"""),
    cfg.IntOpt(
        'failure_threshold',
        default=3,
        min=1,
        deprecated_opts=[cfg.DeprecatedOpt(
            'guest_monitoring_failure_threshold', group=UPSTREAM_GROUP)],
        help="""
Number of consecutive missed pings after which the instance is reported to
Masakari.

The report is sent on exactly this miss, once per failure episode. An episode
ends when the agent answers again or the domain is restarted; a later failure
is then reported again.

Missed pings are: agent not connected, agent not answering in time. Not
misses: a paused, migrating or stopped domain, libvirt lock contention, loss of
the libvirt connection.
"""),
    cfg.IntOpt(
        'boot_grace_period',
        default=120,
        min=0,
        help="""
Seconds after a domain starts, resumes, reboots or migrates in, or after its
agent reconnects, during which missed pings do not count.

The grace ends early as soon as the agent answers once. A guest whose agent has
never answered when the grace ends is logged once at WARNING and, unless
``report_agent_never_answered`` is set, not reported: an image without a
working agent must not be restarted in a loop.

Related options:

* ``report_agent_never_answered``
"""),
    cfg.BoolOpt(
        'report_agent_never_answered',
        default=False,
        help="""
Report an instance whose agent has never answered since the domain started,
once ``boot_grace_period`` has passed and ``failure_threshold`` more pings
were missed.

Off by default: a guest image without a working agent would otherwise be
restarted again and again.

Related options:

* ``boot_grace_period``
"""),
    cfg.IntOpt(
        'max_concurrent_probes',
        default=32,
        min=1,
        max=1024,
        help="""
Upper bound of probes in flight at once, per lane.

Guests that answered their last ping are probed in one lane, guests that did
not (booting, failing, hung) in another, so that hung guests, which hold a
probe for up to five seconds each, never delay the probes of healthy ones.
"""),
    cfg.IntOpt(
        'resync_interval',
        default=300,
        min=10,
        help="""
Seconds between full re-reads of the domain list.

libvirt events keep the set of monitored domains current; the periodic resync
is a safety net for events lost while the connection was down.
"""),
    cfg.IntOpt(
        'shutdown_timeout',
        default=10,
        min=0,
        help="""
Seconds the service waits, when asked to stop, for probes already in flight
before it closes the libvirt connection and exits.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(introspection_group)
    conf.register_opts(introspection_opts, group=introspection_group)


def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
    return {introspection_group: introspection_opts}
