"""Start-up checks of the configuration: every value read once, up front.

oslo.config checks a value only when it is read; reading them all here makes
a bad value stop the service at start, with one line naming the option,
rather than deep inside a running service.
"""

import contextlib
import grp
import os
import pathlib
from collections.abc import Iterator

from oslo_config import cfg

from masakari_introspect.conf import api
from masakari_introspect.conf import masakari
from masakari_introspect.conf import opts
from masakari_introspect.conf import policy_file
from masakari_introspect.conf.errors import ConfigError

__all__ = ['ConfigError', 'check', 'check_files', 'naming',
           'unknown_options']

MAX_SOCKET_PATH = 107        # sun_path holds 108 bytes with the final NUL


def _describe(group: str, name: str) -> str:
    return '[%s] %s' % (group, name)


def check(conf: cfg.ConfigOpts) -> list[str]:
    """Read every option; raise ConfigError on the first bad value.

    Returns warnings (not fatal) as readable lines. Registers the options
    of ``[masakari] auth_section`` and reads an upstream ``[api]`` group
    (see :mod:`masakari_introspect.conf.api`) first.
    """
    try:
        auth_section = masakari.register_auth_section(conf)
    except ValueError as exc:
        raise ConfigError('invalid value for [masakari] auth_section: %s'
                          % exc) from exc
    try:
        warnings = api.adopt(conf)
    except ValueError as exc:
        raise ConfigError('invalid value in [api]: %s' % _reason(exc)
                          ) from exc
    for group, group_opts in opts.list_opts():
        group_name = group if isinstance(group, str) else group.name
        section = conf if group_name == 'DEFAULT' else conf[group_name]
        for opt in group_opts:
            try:
                getattr(section, opt.dest)
            except cfg.NoSuchOptError:
                continue   # an authentication plugin option not in use
            except (cfg.ConfigFileValueError, ValueError) as exc:
                raise ConfigError('invalid value for %s: %s' % (
                    _describe(group_name, opt.name), _reason(exc))) from exc
    if conf.recovery.driver == 'masakari':
        # Keystone options only matter when Masakari recovers.
        masakari.check(conf, auth_section)
    intro = conf.introspection
    if intro.probe_timeout >= intro.probe_interval:
        warnings.append(
            '[introspection] probe_timeout (%d) is not shorter than '
            'probe_interval (%d): a slow guest is probed back to back'
            % (intro.probe_timeout, intro.probe_interval))
    warnings += _worker_budget(conf)
    policy_file.load(intro.policy_file, intro.probe_interval)
    if conf.recovery.driver == 'command' and not conf.recovery.command:
        raise ConfigError('[recovery] driver = command needs [recovery] '
                          'command')
    return warnings


# Options the worker budget replaced: set, they are ignored.
_BUDGET_REPLACED = (('libvirt', 'probe_connections'),
                    ('libvirt', 'suspect_connections'),
                    ('introspection', 'max_concurrent_probes'))


def _worker_budget(conf: cfg.ConfigOpts) -> list[str]:
    """[libvirt] worker_share in (0, 1]; the options it replaced are
    named when set (ignored)."""
    share = conf.libvirt.worker_share
    if not 0 < share <= 1:
        raise ConfigError('invalid value for [libvirt] worker_share: %s '
                          '(must be above 0 and at most 1)' % share)
    warnings = []
    for group, name in _BUDGET_REPLACED:
        location = conf.get_location(name, group)
        if location is not None and \
                location.location is not cfg.Locations.opt_default:
            warnings.append(
                '[%s] %s is deprecated and ignored: the probe lanes and '
                'connections follow from the worker budget ([libvirt] '
                'max_workers x worker_share)' % (group, name))
    return warnings


@contextlib.contextmanager
def naming(option: str) -> Iterator[None]:
    """Turn an OSError or ValueError of the block into a ConfigError
    naming ``option`` (e.g. ``[metrics] listen``): for what only shows
    when the service takes its resources (a busy port)."""
    try:
        yield
    except ConfigError:
        raise
    except OSError as exc:
        raise ConfigError('%s: %s' % (option, _os_reason(exc))) from exc
    except ValueError as exc:
        raise ConfigError('%s: %s' % (option, exc)) from exc


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return '%s: %s' % (exc.filename, reason)
    return reason


def check_files(conf: cfg.ConfigOpts) -> None:
    """The paths of the configuration, on this host: directories that must
    exist or can be created, by this user. Raises ConfigError."""
    _directory('[DEFAULT] state_path', pathlib.Path(conf.state_path))
    socket_path = conf.status.socket_path
    if socket_path:
        if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
            raise ConfigError('invalid value for [status] socket_path: '
                              'longer than %d bytes' % MAX_SOCKET_PATH)
        _directory('[status] socket_path',
                   pathlib.Path(socket_path).parent)
    group = getattr(conf.status, 'socket_group', None)
    if group:
        try:
            gid = group_id(group)
        except KeyError as exc:
            raise ConfigError('invalid value for [status] socket_group: no '
                              'group %r on this host' % group) from exc
        if os.geteuid() != 0 and gid != os.getegid() \
                and gid not in os.getgroups():
            raise ConfigError('[status] socket_group = %s: the service\'s '
                              'user is not a member of this group (needed to '
                              'give it the socket)' % group)
    _log_files(conf)


def group_id(name: str) -> int:
    """The gid of a group name or number; raises KeyError."""
    if name.isdigit():
        return int(name)
    return grp.getgrnam(name).gr_gid


def _directory(option: str, path: pathlib.Path, create: bool = True
               ) -> None:
    existing = path
    while not existing.exists():
        if not create:
            raise ConfigError('%s: directory %s does not exist'
                              % (option, path))
        if existing.is_symlink() or existing.parent == existing:
            raise ConfigError('%s: %s cannot be created' % (option, path))
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError('%s: %s is not a directory' % (
            option, existing if existing != path else path))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError('%s: %s is not writable by this user%s' % (
            option, existing, '' if existing == path
            else ' (needed to create %s)' % path))


def _log_files(conf: cfg.ConfigOpts) -> None:
    log_dir = getattr(conf, 'log_dir', None)
    log_file = getattr(conf, 'log_file', None)
    if log_dir:
        _directory('[DEFAULT] log_dir', pathlib.Path(log_dir), create=False)
    if log_file:
        path = pathlib.Path(log_dir or '.') / log_file
        option = '[DEFAULT] log_file'
        _directory(option, path.parent, create=False)
        if path.is_dir():
            raise ConfigError('%s: %s is a directory' % (option, path))
        if path.exists() and not os.access(path, os.W_OK):
            raise ConfigError('%s: %s is not writable by this user'
                              % (option, path))
    append = getattr(conf, 'log_config_append', None)
    if append and not os.access(append, os.R_OK):
        raise ConfigError('[DEFAULT] log_config_append: cannot read %s'
                          % append)


def _reason(exc: Exception) -> str:
    text = str(exc)
    # oslo says "Value for option X from LocationInfo(...) is not valid: Y"
    if ' is not valid: ' in text:
        text = text.split(' is not valid: ', 1)[1]
    return text.strip()


def unknown_options(conf: cfg.ConfigOpts) -> list[str]:
    """Options and sections in the config files that nothing reads.

    A misspelt option would otherwise be silently ignored, and its default
    used instead of what the operator meant.
    """
    known = _known_names(conf)
    warnings = []
    for path in _config_files(conf):
        sections: dict[str, dict[str, list[str]]] = {}
        cfg.ConfigParser(path, sections).parse()
        for section, values in sections.items():
            if section not in known:
                warnings.append('%s: section [%s] is not used by '
                                'masakari-introspect; ignored' % (path, section))
                continue
            for key in values:
                if key.replace('-', '_') not in known[section]:
                    warnings.append('%s: unknown option [%s] %s; ignored'
                                    % (path, section, key))
    return warnings


def _config_files(conf: cfg.ConfigOpts) -> list[str]:
    files = list(conf.config_file or [])
    for directory in conf.config_dir or []:
        files.extend(sorted(str(p) for p in pathlib.Path(directory).glob('*.conf')))
    return files


def _known_names(conf: cfg.ConfigOpts) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {'DEFAULT': set()}
    for name in conf:
        if isinstance(getattr(conf, name, None), cfg.ConfigOpts.GroupAttr):
            known.setdefault(name, set()).update(
                n.replace('-', '_') for n in conf[name])
        else:
            known['DEFAULT'].add(name.replace('-', '_'))
    for group, group_opts in opts.list_opts():
        group_name = group if isinstance(group, str) else group.name
        for opt in group_opts:
            known.setdefault(group_name, set()).add(opt.dest)
            for old in opt.deprecated_opts:
                known.setdefault(old.group or group_name, set()).add(
                    (old.name or opt.name).replace('-', '_'))
    section = conf.masakari.auth_section or 'masakari'
    try:
        auth_type = conf[section].auth_type
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        auth_type = None
    if auth_type:
        known.setdefault(section, set()).update(
            masakari.plugin_option_names(auth_type))
    return known
