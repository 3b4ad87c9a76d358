"""Options of the [introspection] group: probing and failure detection.

The group is declared and registered here. Its options that judge the guest
kernel are declared in :mod:`masakari_introspect.conf.introspection_kernel`;
:data:`introspection_opts` lists them all in the order of the sample
configuration file.
"""

from oslo_config import cfg

from masakari_introspect.conf.group import option_group
from masakari_introspect.conf.introspection_kernel import kernel_opts

UPSTREAM_GROUP = 'introspectiveinstancemonitor'

introspection_group = cfg.OptGroup(
    'introspection',
    title='Guest agent probing',
    help="""
How guests are probed with ``guest-ping`` and when a guest counts as failed.

Time is cut into probe intervals. An interval in which the agent gave no
answer of any kind (timeout, agent not connected, agent busy, error, a probe
inside libvirt for longer than ``probe_timeout`` plus one second, or a
suspect guest's probe still in flight or queued) is a missed interval; ``failure_threshold``
consecutive missed intervals make a failure. With ``activity_check`` on, the
failure is reported only if the guest did no disk and no network-transmit
work since its first missed interval.

How long it takes from a fault to the report, for each kind of fault, is
stated once, in the design documentation ("Time to detect"): with the
defaults a hung guest is reported 22 to 32 seconds after the hang, a guest
kernel panic with a pvpanic device at once (the libvirt event). A probe still
waiting for a hung agent counts as a missed interval; it does not stretch
this.
""")


def _upstream(name: str) -> list[cfg.DeprecatedOpt]:
    """The option's name in masakari-monitors' introspective monitor."""
    return [cfg.DeprecatedOpt(name, group=UPSTREAM_GROUP)]


# The agent probes and the failure that their misses make.
_probing_opts = [
    cfg.IntOpt(
        'probe_interval',
        default=10,
        min=1,
        deprecated_opts=_upstream('guest_monitoring_interval'),
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
        deprecated_opts=_upstream('guest_monitoring_timeout'),
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
        deprecated_opts=_upstream('guest_monitoring_failure_threshold'),
        help="""
Number of consecutive missed probe intervals after which the instance is
reported to Masakari.

The report is sent once per failure episode. An episode ends when the agent
answers again or the domain is restarted; a later failure is then reported
again.

A missed interval is one without any answer from the agent: not connected,
no answer in time, busy (another caller holds the agent), an error, or a probe
still in flight. Not misses: a paused (by a user), migrating or stopped
domain, loss of the libvirt connection.

Related options:

* ``probe_interval``, ``activity_check``
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
    cfg.BoolOpt(
        'activity_check',
        default=True,
        help="""
Require a second signal before a guest whose agent failed is reported: the
guest's own work, read from libvirt's statistics once per probe interval
(disk read and write requests, network packets sent; not vCPU time and not
packets received, which a dead guest shows too).

When on, a guest whose agent missed ``failure_threshold`` intervals but which
did disk or network-transmit work since its first missed interval is not
reported; a WARNING names the figures, status and metrics show "agent failed,
guest active", and the guest is reported once a whole failure window
(``failure_threshold * probe_interval``) passes without activity. A domain
whose statistics cannot be read counts as inactive.

When off, the agent alone decides.

Related options:

* ``failure_threshold``, ``probe_interval``
"""),
    cfg.IntOpt(
        'job_grace_max',
        default=600,
        min=0,
        help="""
Longest time, in seconds, during which domain jobs (migration, dump, save,
backup, snapshot) that hold a running domain keep its agent's misses from
counting, counted from the first job found since the agent last answered
(jobs that follow one another share it).

During a live migration with auto-converge the vCPUs are throttled and the
agent may miss its timeout; such misses say nothing about the guest. A job
that lasts longer than this (a stalled migration, an endless backup) no
longer shields the guest: its misses count again. When the job ends, the
guest's misses count from then on, a fresh failure window.

Possible values:

* 0: misses count during jobs too
* a positive number of seconds

Related options:

* ``failure_threshold``, ``probe_interval``
"""),
]

# Per-guest policy and the service's own housekeeping.
_service_opts = [
    cfg.StrOpt(
        'policy_file',
        default=None,
        help="""
A YAML file of rules that give some guests other settings than these: the
first rule whose ``match`` fits a guest applies (keys ``name``,
``display_name``, ``uuid``, ``flavor``, ``project``, each an fnmatch pattern;
all but ``name`` and ``uuid`` come from Nova's metadata in the domain XML).
A rule may set ``probe_interval`` (a whole multiple of ``probe_interval``),
``failure_threshold``, ``agent_loss``, ``monitor`` (false: the guest is
never probed nor reported) and application ``probes``. A domain's own
``<policy>`` metadata (see the operations guide) overrides the file.

Every key is checked at start: an unknown key, a bad type or an impossible
value stops the service with one line naming the rule and the key. SIGHUP
reads the file again; a broken file then keeps the running policy (one
ERROR). The status command shows which rule applies to each guest.

Possible values:

* unset: every guest gets the settings of this section
* the path of a YAML file

Related options:

* ``probe_interval``, ``failure_threshold``, ``agent_loss``
"""),
    cfg.IntOpt(
        'max_concurrent_probes',
        default=256,
        min=1,
        max=1024,
        deprecated_for_removal=True,
        deprecated_reason='Probes in flight follow from the worker budget '
                          '([libvirt] max_workers and worker_share); this '
                          'value is ignored.',
        help="""
Ignored: the probes in flight at once follow from the worker budget
(``[libvirt] max_workers`` and ``worker_share``). Formerly the upper bound of
probes in flight at once, per lane.
"""),
    cfg.IntOpt(
        'forget_absent_after',
        default=7 * 86400,
        min=3600,
        help="""
Seconds after which what the service remembers of an instance that is no
longer on this host is dropped: its maintenance flag, whether its agent ever
answered here, and its recent reports (the recovery limit). Until then the
status command lists instances in maintenance that are not on this host, so
that a flag left behind is visible; an instance that comes back later is
monitored like a new one.
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


introspection_opts = _probing_opts + kernel_opts + _service_opts

register_opts, list_opts = option_group(introspection_group, introspection_opts)
