"""Options of the [masakari] group: the notifications API and its credentials.

Authentication, session (TLS, timeout) and endpoint selection are
keystoneauth1's own options, registered here so that the usual ``auth_type``,
``auth_url``, ``cafile``, ``region_name``, ``valid_interfaces`` and
``endpoint_override`` work as in every OpenStack service.
"""

import contextlib
import copy
import logging
from collections.abc import Iterator

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from masakari_introspect.conf.errors import ConfigError

SERVICE_TYPE = 'instance-ha'

masakari_group = cfg.OptGroup(
    'masakari',
    title='Masakari API',
    help="""
Where and how notifications are sent.

The Masakari endpoint is found in the Keystone catalog under the service type
``instance-ha``. For a standalone setup without Keystone use
``auth_type = none`` with ``endpoint_override = http://HOST:15868/v1``.
""")

masakari_opts = [
    cfg.FloatOpt(
        'retry_interval',
        default=2.0,
        min=0.1,
        help="""
Seconds before the first retry of a notification that could not be delivered
(connection error, timeout, HTTP 5xx). The delay doubles on each failure up to
``retry_interval_max``. Undelivered notifications are never dropped.

Related options:

* ``retry_interval_max``
"""),
    cfg.FloatOpt(
        'retry_interval_max',
        default=60.0,
        min=1.0,
        help="""
Upper bound of the delay between two delivery attempts.

Notifications refused for a configuration reason (HTTP 400, 401, 403) are
retried at this pace, so that they go out once the operator fixed the cause.

Related options:

* ``retry_interval``
"""),
    cfg.IntOpt(
        'duplicate_window',
        default=180,
        min=1,
        max=86400,
        help="""
Masakari's ``duplicate_notification_detection_interval`` in seconds (its
default is 180). Masakari refuses (HTTP 409 "duplicate") a notification for
an instance within this interval of the previous one. A new failure of the
same instance within the window is therefore sent again once the window has
passed, with a generated time past it; a resend of a notification Masakari
already has counts as delivered. A duplicate answer after the window is
logged as an ERROR naming this option and retried with backoff.

Possible values:

* Seconds, the same value as Masakari's
  ``duplicate_notification_detection_interval``.

Related options:

* ``retry_interval_max``
"""),
    cfg.IntOpt(
        'spool_max_entries',
        default=1000,
        min=1,
        help="""
Maximum number of undelivered notifications kept in the spool under
``[DEFAULT] state_path``. At most one is kept per instance; when the spool is
full, new ones are refused with an ERROR in the log.
"""),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # A copy: keystoneauth registers its plugin's options into the group
    # when loading, and they must not leak into other ConfigOpts.
    conf.register_group(copy.deepcopy(masakari_group))
    conf.register_opts(masakari_opts, group=masakari_group)
    ks_loading.register_session_conf_options(conf, masakari_group.name)
    ks_loading.register_auth_conf_options(conf, masakari_group.name)
    ks_loading.register_adapter_conf_options(conf, masakari_group.name)
    conf.set_default('service_type', SERVICE_TYPE, group=masakari_group.name)
    conf.set_default('timeout', 10, group=masakari_group.name)


def register_auth_section(conf: cfg.ConfigOpts) -> str:
    """The group holding the credentials: ``[masakari]`` or its
    ``auth_section`` (nova style, e.g. ``[service_user]``), whose options
    are registered here so that keystoneauth can read them."""
    section = conf[masakari_group.name].auth_section
    if not section or section == masakari_group.name:
        return masakari_group.name
    if section == 'DEFAULT':
        raise ValueError('the credentials cannot be in [DEFAULT]')
    ks_loading.register_auth_conf_options(conf, section)
    return str(section)


def _ksa_opts() -> list[cfg.Opt]:
    opts: list[cfg.Opt] = []
    seen: set[str] = set()
    groups = (
        ks_loading.get_session_conf_options(),
        ks_loading.get_auth_common_conf_options(),
        ks_loading.get_auth_plugin_conf_options('password'),
        ks_loading.get_auth_plugin_conf_options('v3applicationcredential'),
        ks_loading.get_auth_plugin_conf_options('none'),
        ks_loading.get_adapter_conf_options(include_deprecated=False),
    )
    for group in groups:
        for opt in group:
            if opt.dest not in seen:
                seen.add(opt.dest)
                opts.append(copy.deepcopy(opt))
    for opt in opts:
        if opt.dest == 'service_type':
            opt.default = SERVICE_TYPE
        elif opt.dest == 'timeout':
            opt.default = 10
    return opts


def list_opts() -> dict[cfg.OptGroup, list[cfg.Opt]]:
    return {masakari_group: masakari_opts + _ksa_opts()}


# -- start-up checks (called by conf/validate.py) -----------------------------

# keystoneauth's session and adapter numbers have no bounds of their own.
AT_LEAST = {'connect_retries': 0, 'connect_retry_delay': 0,
            'status_code_retries': 0, 'status_code_retry_delay': 0}
# Loggers of the libraries behind this group, quieted by the service.
LIBRARY_LOGGERS = ('keystoneauth', 'stevedore')


def password_opts() -> list[cfg.Opt]:
    """The options of keystoneauth's password plugin."""
    return list(ks_loading.get_auth_plugin_conf_options('password'))


def plugin_option_names(auth_type: str) -> set[str]:
    """The option names of an authentication plugin; none if unknown."""
    try:
        return {o.dest for o in
                ks_loading.get_auth_plugin_conf_options(auth_type)}
    except Exception:  # an unknown plugin is reported by check()
        return set()


def check(conf: cfg.ConfigOpts, section: str) -> None:
    """What keystoneauth would raise deep in the sender, said up front."""
    group = masakari_group.name
    options = conf[group]
    if options.timeout is not None and options.timeout <= 0:
        raise ConfigError('invalid value for [%s] timeout: %s (seconds, '
                          'must be above 0)' % (group, options.timeout))
    for name, least in AT_LEAST.items():
        value = options[name]
        if value is not None and value < least:
            raise ConfigError('invalid value for [%s] %s: %s (must be at '
                              'least %s)' % (group, name, value, least))
    auth_type = conf[section].auth_type
    if auth_type:
        try:
            with _quiet('stevedore.named'):   # it logs "Could not load" itself
                ks_loading.get_plugin_loader(auth_type)
        except ksa_exc.NoMatchingPlugin as exc:
            raise ConfigError(
                'invalid value for [%s] auth_type: no authentication plugin '
                '%r (e.g. password, v3applicationcredential, none)'
                % (section, auth_type)) from exc
    if (not auth_type or auth_type == 'none') and \
            not options.endpoint_override and not conf.dry_run:
        where = ('[%s] auth_type is not set' % section if not auth_type
                 else '[%s] auth_type = none needs [%s] endpoint_override'
                 % (section, group))
        if section != group and not auth_type:
            where = ('[%s] auth_section = %s, but [%s] has no auth_type'
                     % (group, section, section))
        raise ConfigError(
            '%s: notifications to Masakari could not be sent (set '
            'auth_type = password with auth_url and credentials, or '
            'auth_type = none with endpoint_override, or [DEFAULT] '
            'dry_run = true)' % where)
    if auth_type:
        try:
            ks_loading.load_auth_from_conf_options(conf, group)
        except ksa_exc.MissingRequiredOptions as exc:
            raise ConfigError('[%s] auth_type = %s needs %s' % (
                section, auth_type, ', '.join(
                    '[%s] %s' % (section, o.dest) for o in exc.options))
            ) from exc
        except (ksa_exc.ClientException, TypeError, ValueError) as exc:
            raise ConfigError('invalid credentials options in [%s] '
                              '(auth_type = %s): %s'
                              % (section, auth_type, exc)) from exc
    try:
        ks_loading.load_adapter_from_conf_options(conf, group, session=None)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        if 'mutually exclusive' in text:
            raise ConfigError('[%s] interface and valid_interfaces are '
                              'mutually exclusive: keep valid_interfaces'
                              % group) from exc
        name = 'valid_interfaces' if 'valid_interfaces' in text \
            else 'interface' if 'interface' in text else 'options'
        raise ConfigError('invalid value for [%s] %s: %s'
                          % (group, name, text)) from exc


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled
