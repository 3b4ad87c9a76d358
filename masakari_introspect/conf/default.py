"""Options of the [DEFAULT] group."""

import socket

from oslo_config import cfg

default_opts = [
    cfg.HostnameOpt(
        'host',
        default=socket.gethostname(),
        sample_default='<current_hostname>',
        help="""
Name of this compute host as it is registered in Masakari.

Every notification carries this name, and Masakari accepts a notification only
for a host that belongs to a failover segment, compared to the letter: a short
name where Masakari knows the FQDN (or the reverse) makes every notification
fail with HTTP 400.

Possible values:

* A host name or FQDN, exactly as listed by ``openstack segment host list``.
"""),
    cfg.StrOpt(
        'state_path',
        default='/var/lib/masakari-introspect',
        help="""
Directory for the service's durable state.

It holds the spool of notifications not yet accepted by Masakari and the small
per-instance record that prevents a second report of the same failure after a
restart. It must be on a local file system, writable by the service only
(mode 0700).
"""),
    cfg.BoolOpt(
        'dry_run',
        default=False,
        help="""
Do everything but send: probe, detect and decide as usual, but instead of
notifying Masakari, log at WARNING the notification that would have been sent,
with its exact JSON body.

Use it to try the service on a compute node (thresholds, grace period, which
guests have a working agent) before letting it trigger recoveries. Instances
"reported" in dry-run mode show as failed in the status command and the
metrics, and the notifications are counted with the result ``dry_run``.
Notifications already in the spool are kept, and sent once dry-run is off.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(default_opts)


def list_opts() -> dict[str, list[cfg.Opt]]:
    return {'DEFAULT': default_opts}
