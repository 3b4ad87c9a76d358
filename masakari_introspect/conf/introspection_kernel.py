"""Options of the [introspection] group that judge the guest kernel: its
balloon heartbeat, a lost agent while the kernel lives, a kdump after a
panic, and CPU starvation.

Declared here, registered with the rest of the group by
:mod:`masakari_introspect.conf.introspection` (in this order, after the
agent probing options).
"""

from oslo_config import cfg

kernel_opts = [
    cfg.BoolOpt(
        'kernel_heartbeat',
        default=True,
        help="""
Judge the guest kernel by its heartbeat: the time of its last answer to the
virtio balloon's memory statistics request (libvirt's ``balloon.last-update``),
read in the per-interval statistics call.

The balloon driver answers from a kernel workqueue, so the stamp keeps moving
while the agent or all of userspace is stopped, and stops when the kernel
dies. A heartbeat that moved since the guest (re)started and then does not
move for ``2 x period + 1`` seconds while the domain runs, with no agent
answer and no disk or network work since, is a dead kernel: the guest is
reported at once with reason ``kernel_hung``, without waiting for
``failure_threshold`` misses, and its agent is not called again while the
heartbeat stays stale. A guest without a balloon, with statistics off, or
whose stamp never moved is judged by its agent as before; so is a Windows
guest (its agent says so to ``guest-get-osinfo``, asked once per agent
connection), whose statistics come from a user-mode service.

Related options:

* ``kernel_heartbeat_period``
"""),
    cfg.IntOpt(
        'kernel_heartbeat_period',
        default=2,
        min=0,
        max=60,
        help="""
Balloon statistics period, in seconds, set live (once per QEMU process, not
in the persistent definition) on every running guest with a virtio balloon
whose period is 0 (statistics off) or longer. A dead kernel is seen within
``2 x period + 1`` seconds plus one probe interval. A period changed live
later by anyone else (``virsh dommemstat --period N --live``, Nova) is
followed, not set again; statistics turned off then leave the guest without
a heartbeat until they are on again.

Possible values:

* 0: leave every guest's period as it is (a guest with statistics off has
  no heartbeat)
* 1 to 60 seconds

Related options:

* ``kernel_heartbeat``; Nova's ``[libvirt] mem_stats_period_seconds``
"""),
    cfg.StrOpt(
        'agent_loss',
        default='warn',
        choices=[('warn', 'one WARNING; not reported while the kernel '
                  'heartbeat is live'),
                 ('report', 'judged by its misses, as before')],
        help="""
What an agent that answered in this boot and whose port the guest then
closed (libvirt's agent lifecycle event: disconnected, reason channel) gets
while the guest's kernel heartbeat is live: the guest kernel closed the port,
so it is alive; the agent exited (stopped, killed, crashed, upgraded).

With ``warn`` the instance shows "agent lost, kernel alive" in the status,
the metrics and the check (WARNING), one WARNING is logged, and it is not
reported while the heartbeat stays live; if the heartbeat then goes stale it
is a dead kernel (``kernel_hung``). A hung agent (port open, no answer) is
still reported ``unresponsive`` after the failure window. Guests without a
live heartbeat are judged by their agent as before.

Related options:

* ``kernel_heartbeat``
"""),
    cfg.IntOpt(
        'kdump_timeout',
        default=600,
        min=0,
        help="""
Seconds to wait, after a pvpanic *crash loaded* event (the guest kernel
panicked with a crash kernel loaded: it writes its dump and reboots itself),
for the guest to show life again (its agent answers or its kernel heartbeat
beats). Until then no verdict is made; after it, the instance is reported
``crashed``. Linux sends *crash loaded* only when booted with
``crash_kexec_post_notifiers``; without it a panic with kdump shows no event.

Possible values:

* 0: report at the first tick after the event
* a positive number of seconds

Related options:

* ``kernel_heartbeat``
"""),
    cfg.IntOpt(
        'starvation_grace',
        default=120,
        min=0,
        help="""
Longest time, in seconds per episode, during which a guest starved of CPU
is not judged. A statistics interval in which one of the guest's vCPUs
waited for a host CPU (``vcpu.<n>.delay``, the guest's steal time) for more
than half the interval while it ran (``vcpu.<n>.time``) less than a tenth of
it is starved: a missed ping in it is not a miss and the kernel heartbeat
does not go stale. One WARNING per episode names the steal time; the metric
``masakari_introspect_instance_starved_intervals`` counts such intervals.
After the grace the guest is judged as usual. A panicked kernel spins and
gets its share of the CPU: it is not starved. Where the host kernel keeps no
scheduler statistics (the delay reads 0) the start-up log says the rule is
off.

Possible values:

* 0: starved guests are judged as any other
* a positive number of seconds

Related options:

* ``failure_threshold``, ``probe_interval``, ``kernel_heartbeat``
"""),
]
