"""Options of the [status] group: the local status and control socket."""

from oslo_config import cfg

from masakari_introspect.conf.group import option_group

status_group = cfg.OptGroup(
    'status',
    title='Status socket',
    help="""
A unix socket on which the service answers ``masakari-introspect-status``
and ``masakari-introspect-check``: the state of every instance, and the
maintenance switch. It is created with mode 0600, so only the service's user
(and root) can use it; with ``socket_group``, members of that group can read
the status too. The maintenance switch is always reserved to root and the
service's user (checked with the peer's credentials).
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
* ``socket_group``
"""),
    cfg.StrOpt(
        'socket_group',
        help="""
A group whose members may read the status (the status command and the
monitoring check), e.g. the group of the Nagios or Icinga user.

The socket is then created with mode 0660 and this group. Every directory
above it must let the group search it (``x`` for the group or for others):
the default ``$state_path`` is mode 0700, so use a socket path in a
directory such as ``/run/masakari-introspect`` (the shipped systemd unit
creates it). Members of the group cannot switch maintenance: that needs
root or the service's own user, whoever can open the socket.

Possible values:

* Unset (the default): the socket is mode 0600, for the service's user and
  root only.
* A group name or number that exists on this host, of which the service's
  user is a member (e.g. ``SupplementaryGroups=`` in the systemd unit).

Related options:

* ``socket_path``
"""),
]


register_opts, list_opts = option_group(status_group, status_opts)
