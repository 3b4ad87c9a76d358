"""Reading ``[introspection] policy_file``: YAML, checked in full.

At start a bad file stops the service with one line (ConfigError, exit 2);
on SIGHUP the service keeps its running policy and logs one ERROR.
"""

import yaml
from oslo_log import log as logging

from masakari_introspect.conf.errors import ConfigError
from masakari_introspect.core.rules import PolicyError
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import parse_rules

LOG = logging.getLogger(__name__)
OPTION = '[introspection] policy_file'


def load(path: str | None, interval: float) -> Rules:
    """The rules of the file at ``path`` (none: no rules); ``interval`` is
    ``[introspection] probe_interval``. Raises ConfigError naming the
    option, the file, the rule and the key."""
    if not path:
        return Rules()
    try:
        with open(path, encoding='utf-8') as handle:
            doc = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError('%s: cannot read %s: %s' % (
            OPTION, path, exc.strerror or exc)) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError('%s: %s is not valid YAML: %s' % (
            OPTION, path, ' '.join(str(exc).split()))) from exc
    try:
        return parse_rules(doc, interval)
    except PolicyError as exc:
        raise ConfigError('%s: %s: %s' % (OPTION, path, exc)) from exc


def reload(path: str | None, interval: float, reason: str = 'SIGHUP'
           ) -> Rules | None:
    """The file's rules read again, with one INFO line; None, with one
    ERROR line, if it is broken (the running policy stays)."""
    if not path:
        return None
    try:
        rules = load(path, interval)
    except ConfigError as exc:
        LOG.error('Policy file not reloaded on %s, the running policy is '
                  'kept: %s', reason, exc)
        return None
    LOG.info('Policy file %s reloaded on %s: %d rule(s)', path, reason,
             len(rules.rules))
    return rules
