"""Start-up checks of the configuration: every value read once, up front.

oslo.config checks a value only when it is read; reading them all here makes
a bad value stop the service at start, with one line naming the option,
rather than deep inside a running service.
"""

import pathlib

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from masakari_introspect.conf import opts


class ConfigError(Exception):
    """One readable line for the operator."""


def _describe(group: str, name: str) -> str:
    return '[%s] %s' % (group, name)


def check(conf: cfg.ConfigOpts) -> list[str]:
    """Read every option; raise ConfigError on the first bad value.

    Returns warnings (not fatal) as readable lines.
    """
    for group, group_opts in opts.list_opts():
        group_name = group if isinstance(group, str) else group.name
        section = conf if group_name == 'DEFAULT' else conf[group_name]
        for opt in group_opts:
            try:
                getattr(section, opt.dest)
            except cfg.NoSuchOptError:
                continue   # a keystoneauth plugin option not in use
            except (cfg.ConfigFileValueError, ValueError) as exc:
                raise ConfigError('invalid value for %s: %s' % (
                    _describe(group_name, opt.name), _reason(exc))) from exc
    intro = conf.introspection
    warnings = []
    if intro.probe_timeout >= intro.probe_interval:
        warnings.append(
            '[introspection] probe_timeout (%d) is not shorter than '
            'probe_interval (%d): a slow guest is probed back to back'
            % (intro.probe_timeout, intro.probe_interval))
    # [recovery] (delivery): Keystone options only matter for masakari.
    if conf.recovery.driver == 'command' and not conf.recovery.command:
        raise ConfigError('[recovery] driver = command needs [recovery] '
                          'command')
    if conf.recovery.driver == 'masakari' and \
            conf.masakari.auth_type is None and \
            not conf.masakari.endpoint_override and not conf.dry_run:
        warnings.append(
            '[masakari] has neither auth_type nor endpoint_override: '
            'notifications cannot be sent until one is set')
    return warnings


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
    auth_type = conf.masakari.auth_type
    if auth_type:
        try:
            plugin_opts = ks_loading.get_auth_plugin_conf_options(auth_type)
        except Exception:  # an unknown plugin is reported when loaded
            plugin_opts = []
        known['masakari'].update(o.dest for o in plugin_opts)
    return known
