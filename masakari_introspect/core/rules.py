"""Per-instance policy: the rules of the policy file and a domain's own
``<policy>`` metadata, checked, matched to a guest and turned into its
:class:`~masakari_introspect.core.policy.Policy`.

Pure: the file is read (YAML) in :mod:`masakari_introspect.conf.policy_file`,
the metadata in :mod:`masakari_introspect.virt.metadata`. The first rule
whose ``match`` fits a guest applies; the domain's metadata overrides it.
A bad rule is fatal (one line naming the rule and the key); a bad metadata
value is a warning and is ignored.
"""

import dataclasses
import fnmatch
from collections.abc import Mapping
from typing import Any

from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import Overrides
from masakari_introspect.core.policy import Policy
from masakari_introspect.core.policy_checks import PolicyError
from masakari_introspect.core.policy_checks import kind as _kind
from masakari_introspect.core.policy_checks import overrides as _overrides
from masakari_introspect.core.policy_checks import probe_of

__all__ = ['METADATA', 'MATCH_KEYS', 'PolicyError', 'Rule', 'Rules',
           'metadata_overrides', 'parse_rules', 'policy_for', 'rule_name']

MATCH_KEYS = ('name', 'display_name', 'uuid', 'flavor', 'project')
METADATA = 'domain metadata'


@dataclasses.dataclass(frozen=True)
class Rule:
    index: int                                # 1-based, in file order
    match: tuple[tuple[str, str], ...]        # (key, fnmatch pattern)
    overrides: Overrides

    @property
    def name(self) -> str:
        return rule_name(self.index, self.match)

    def matches(self, info: DomainInfo) -> bool:
        """Every key's pattern fits; a key the guest has no value for
        (no Nova metadata) does not."""
        for key, pattern in self.match:
            value = info.uuid.lower() if key == 'uuid' else getattr(info, key)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return True


@dataclasses.dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = ()

    def first(self, info: DomainInfo) -> Rule | None:
        return next((r for r in self.rules if r.matches(info)), None)


def rule_name(index: int, match: tuple[tuple[str, str], ...]) -> str:
    """How a rule is named in logs, errors and the status."""
    return 'rule %d (%s)' % (index, ', '.join(
        '%s=%s' % pair for pair in match) or 'every guest')


def policy_for(base: Policy, rules: Rules, info: DomainInfo
               ) -> tuple[Policy, list[str]]:
    """The guest's policy (the first rule that fits, then the domain's own
    metadata) and what was wrong in its metadata (ignored)."""
    rule = rules.first(info)
    policy = base if rule is None else rule.overrides.apply(base, rule.name)
    if info.policy is None:
        return policy, []
    overrides, errors = metadata_overrides(info.policy, base.probe_interval)
    if overrides:
        policy = overrides.apply(policy, '%s + %s' % (policy.rule, METADATA)
                                 if policy.rule else METADATA)
    return policy, errors


# -- the policy file ---------------------------------------------------------------


def parse_rules(doc: object, interval: float) -> Rules:
    """The rules of a parsed policy file; ``interval`` is the configured
    probe interval. Raises PolicyError on the first fault."""
    if doc is None:
        return Rules()
    if not isinstance(doc, Mapping):
        raise PolicyError('the file must hold a mapping with the key '
                          '"rules", not %s' % _kind(doc))
    for key in doc:
        if key != 'rules':
            raise PolicyError('unknown key %r at the top (only "rules")'
                              % (key,))
    items = doc.get('rules')
    if items is None:
        return Rules()
    if not isinstance(items, list):
        raise PolicyError('"rules" must be a list, not %s' % _kind(items))
    return Rules(tuple(_rule(index, item, interval)
                       for index, item in enumerate(items, 1)))


def _rule(index: int, item: object, interval: float) -> Rule:
    if not isinstance(item, Mapping):
        raise PolicyError('rule %d: must be a mapping (match and settings), '
                          'not %s' % (index, _kind(item)))
    if 'match' not in item:
        raise PolicyError('rule %d: no "match" (write "match: {}" for every '
                          'guest)' % index)
    match = _match(index, item['match'])
    settings = {k: v for k, v in item.items() if k != 'match'}
    overrides, _errors = _overrides(settings, rule_name(index, match),
                                    interval, strict=True)
    return Rule(index, match, overrides)


def _match(index: int, value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise PolicyError('rule %d: match: must be a mapping of %s to '
                          'patterns, not %s' % (index, ', '.join(MATCH_KEYS),
                                                _kind(value)))
    found = []
    for key, pattern in value.items():
        if key not in MATCH_KEYS:
            raise PolicyError('rule %d: match: unknown key %r (known: %s)'
                              % (index, key, ', '.join(MATCH_KEYS)))
        if isinstance(pattern, bool) or not isinstance(pattern, (str, int)):
            raise PolicyError('rule %d: match: %s: must be a pattern (a '
                              'string), not %s' % (index, key, _kind(pattern)))
        text = str(pattern)
        found.append((key, text.lower() if key == 'uuid' else text))
    return tuple(found)


# -- a domain's own metadata -------------------------------------------------------


def metadata_overrides(element: PolicyElement, interval: float
                       ) -> tuple[Overrides, list[str]]:
    """The settings of a domain's ``<policy>`` element, and one message
    per bad value (ignored: the rest applies)."""
    settings = {k: v for k, v in element.settings if k != 'probes'}
    overrides, errors = _overrides(settings, METADATA, interval,
                                   strict=False, text=True)
    if any(k == 'probes' for k, _v in element.settings):
        errors.append('%s: unknown key \'probes\' (probes are <probe> '
                      'elements)' % METADATA)
    probes: list[AppProbe] = []
    for index, probe in enumerate(element.probes, 1):
        doc: dict[str, Any] = dict(probe.attributes)
        if probe.exec:
            doc['exec'] = list(probe.exec)
        try:
            checked = probe_of(index, doc, text=True)
            if any(p.name == checked.name for p in probes):
                raise PolicyError('probe %d (%s): the name is used twice'
                                  % (index, checked.name))
            probes.append(checked)
        except PolicyError as exc:
            errors.append('%s: probes: %s' % (METADATA, exc))
    if probes:
        overrides = dataclasses.replace(overrides, probes=tuple(probes))
    errors += ['%s: unknown element <%s> (known: <probe>)' % (METADATA, tag)
               for tag in element.unknown]
    return overrides, errors
