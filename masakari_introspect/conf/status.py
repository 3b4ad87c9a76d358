"""Options of the [status] group: the local status and control socket."""

from oslo_config import cfg

status_group = cfg.OptGroup(
    'status',
    title='Status socket',
    help="""
A unix socket on which the service answers ``masakari-introspect-status``
and ``masakari-introspect-check``: the state of every instance, and the
maintenance switch. It is created with mode 0600, so only the service's user
(and root) can use it.
""")

status_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        'socket_path',
        default='$state_path/status.sock',
        help="""
Path of the status socket.

The commands ``masakari-introspect-status`` and ``masakari-introspect-check``
read it from the same configuration file, or take ``--socket``.

Possible values:

* A path on a local file system; its directory is created (mode 0700) if
  missing. At most 107 bytes long (a unix socket limit).
* Empty: no status socket (the status command and the check then report the
  service as not running).

Related options:

* ``[DEFAULT] state_path``
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(status_group)
    conf.register_opts(status_opts, group=status_group)


def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
    return {status_group: status_opts}
