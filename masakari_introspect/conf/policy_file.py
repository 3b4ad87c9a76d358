"""Reading ``[introspection] policy_file``: YAML, checked in full.

At start a bad file stops the service with one line (ConfigError, exit 2);
on SIGHUP the service keeps its running policy and logs one ERROR.
"""

from typing import Any

import yaml
from oslo_log import log as logging

from masakari_introspect.conf.errors import ConfigError
from masakari_introspect.core.rules import PolicyError
from masakari_introspect.core.rules import Rules
from masakari_introspect.core.rules import parse_rules

LOG = logging.getLogger(__name__)
OPTION = '[introspection] policy_file'


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an
    error (plain YAML keeps the last one silently: a rule with two
    ``match`` keys would match on the second only)."""

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == 'tag:yaml.org,2002:merge':
                continue    # '<<: *shared': its keys may be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                twice = key in seen
            except TypeError:       # unhashable: the base class says so
                break
            if twice:
                raise yaml.constructor.ConstructorError(
                    None, None, 'the key %r is given twice in one mapping'
                    % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: str | None, interval: float) -> Rules:
    """The rules of the file at ``path`` (none: no rules); ``interval`` is
    ``[introspection] probe_interval``. Raises ConfigError naming the
    option, the file, the rule and the key."""
    if not path:
        return Rules()
    try:
        with open(path, encoding='utf-8') as handle:
            doc = yaml.load(handle, Loader=_Loader)   # a safe loader
    except OSError as exc:
        raise ConfigError('%s: cannot read %s: %s' % (
            OPTION, path, exc.strerror or exc)) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError('%s: %s is not valid YAML: %s' % (
            OPTION, path, ' '.join(str(exc).split()))) from exc
    except RecursionError as exc:
        # The YAML parser recurses once per level of nesting.
        raise ConfigError('%s: %s is nested too deeply' % (OPTION, path)
                          ) from exc
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
