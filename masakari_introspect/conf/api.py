"""The [api] group of masakari-monitors: a deprecated source of credentials.

An upstream masakari-monitors file keeps its Keystone credentials in
``[api]`` (the ``password`` plugin's options plus ``region``,
``api_interface``, ``api_version`` and the retry settings). When
``[masakari]`` names no authentication of its own, :func:`adopt` reads them
as ``[masakari] auth_type = password`` and says, in one WARNING, what to move
where. The group is not in the sample file: new configurations use
``[masakari]``.
"""

from typing import Any

from oslo_config import cfg

from masakari_introspect.conf import masakari

GROUP = 'api'
TARGET = 'masakari'
# Upstream name -> [masakari] name, for the options that have one.
RENAMED = {'region': 'region_name', 'api_interface': 'valid_interfaces'}
# Upstream options this service has no use for, and why.
IGNORED = {
    'api_version': 'the endpoint comes from the catalog or endpoint_override',
    'api_retry_max': 'notifications are retried until delivered',
    'api_retry_interval': 'see [masakari] retry_interval and '
                          'retry_interval_max',
}

api_group = cfg.OptGroup(
    GROUP, title='masakari-monitors API options (deprecated)',
    help='Read only when [masakari] has no auth_type; move them there.')

upstream_opts: list[cfg.Opt] = [
    cfg.StrOpt('region', help='Deprecated: use [masakari] region_name.'),
    cfg.StrOpt('api_version', help='Ignored.'),
    cfg.StrOpt('api_interface',
               help='Deprecated: use [masakari] valid_interfaces.'),
    cfg.IntOpt('api_retry_max', help='Ignored.'),
    cfg.IntOpt('api_retry_interval', help='Ignored.'),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_group(api_group)
    conf.register_opts(upstream_opts, group=api_group)
    optional = masakari.password_opts()   # auth_url is required only once adopted
    for opt in optional:
        opt.required = False
    conf.register_opts(optional, group=api_group)


def _given(conf: cfg.ConfigOpts, opts: list[cfg.Opt]) -> dict[str, Any]:
    section = conf[GROUP]
    return {opt.dest: section[opt.dest] for opt in opts
            if section[opt.dest] is not None}


def adopt(conf: cfg.ConfigOpts) -> list[str]:
    """Use ``[api]`` credentials for ``[masakari]``; the warnings to log.

    Raises ValueError (from oslo.config) for a malformed value in ``[api]``.
    """
    if GROUP not in conf:
        return []
    credentials = _given(conf, masakari.password_opts())
    upstream = _given(conf, upstream_opts)
    if not credentials and not upstream:
        return []
    target = conf[TARGET]
    if target.auth_type or target.auth_section or not credentials:
        return ['[%s] (masakari-monitors) is ignored: [%s] sets the '
                'credentials; remove [%s] %s' % (
                    GROUP, TARGET, GROUP, ', '.join(
                        sorted(credentials) + sorted(upstream)))]
    conf.register_opts(masakari.password_opts(), group=TARGET)   # as the plugin will
    conf.set_override('auth_type', 'password', group=TARGET)
    moved = ['auth_type = password']
    for name, value in credentials.items():
        conf.set_override(name, value, group=TARGET)
        moved.append(name)
    for old, new in RENAMED.items():
        if old in upstream and target[new] is None:
            value = upstream[old]
            conf.set_override(new, [value] if new == 'valid_interfaces'
                              else value, group=TARGET)
            moved.append('%s (was %s)' % (new, old))
    warnings = ['[%s] is masakari-monitors\' group and deprecated here: its '
                'credentials are used as [%s] %s; move them to [%s]' % (
                    GROUP, TARGET, ', '.join(moved), TARGET)]
    for name in sorted(set(upstream) & set(IGNORED)):
        warnings.append('[%s] %s is ignored: %s' % (GROUP, name,
                                                    IGNORED[name]))
    return warnings
