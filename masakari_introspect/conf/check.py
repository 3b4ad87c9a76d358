"""Start-up checks of the configuration: every value read once, up front.

oslo.config checks a value only when it is read; reading them all here makes
a bad value stop the service at start, with one line naming the option,
rather than deep inside a running service.
"""

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
    if conf.masakari.auth_type is None and not conf.masakari.endpoint_override:
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
