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
import re
from collections.abc import Callable, Mapping
from typing import Any

from masakari_introspect.core.model import DomainInfo
from masakari_introspect.core.model import PolicyElement
from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.core.policy import Overrides
from masakari_introspect.core.policy import Policy

MATCH_KEYS = ('name', 'display_name', 'uuid', 'flavor', 'project')
SETTINGS = ('probe_interval', 'failure_threshold', 'agent_loss', 'monitor',
            'probes')
PROBE_KEYS = ('name', 'exec', 'timeout', 'every', 'threshold', 'on_failure')
METADATA = 'domain metadata'
_PROBE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0')


class PolicyError(ValueError):
    """One readable line: the rule (or metadata), the key, what is wrong."""


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
            checked = _probe(index, doc, text=True)
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


# -- the settings, for both ------------------------------------------------------


def _overrides(settings: Mapping[str, object], where: str, interval: float,
               *, strict: bool, text: bool = False
               ) -> tuple[Overrides, list[str]]:
    found: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in settings.items():
        try:
            if key not in _CHECKS:
                raise PolicyError('unknown key %r (known: %s)' % (
                    key, ', '.join(('match',) + SETTINGS if strict
                                   else SETTINGS[:-1])))
            found[key] = _CHECKS[key](value, text, interval)
        except PolicyError as exc:
            message = '%s: %s' % (where, exc)
            if strict:
                raise PolicyError(message) from None
            errors.append(message)
    return Overrides(**found), errors


def _probe_interval(value: object, text: bool, interval: float) -> float:
    seconds = _whole('probe_interval', value, text, 1)
    if seconds % interval:
        raise PolicyError('probe_interval: must be a whole multiple of '
                          '[introspection] probe_interval (%g), not %d'
                          % (interval, seconds))
    return float(seconds)


def _threshold(value: object, text: bool, _interval: float) -> int:
    return _whole('failure_threshold', value, text, 1)


def _agent_loss(value: object, _text: bool, _interval: float) -> AgentLoss:
    return AgentLoss(_choice('agent_loss', value, AgentLoss))


def _monitor(value: object, text: bool, _interval: float) -> bool:
    if text and isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    if isinstance(value, bool):
        return value
    raise PolicyError('monitor: must be true or false, not %r' % (value,))


def _probes(value: object, text: bool, _interval: float
            ) -> tuple[AppProbe, ...]:
    if not isinstance(value, list):
        raise PolicyError('probes: must be a list, not %s' % _kind(value))
    probes: list[AppProbe] = []
    for index, item in enumerate(value, 1):
        try:
            probe = _probe(index, item, text)
        except PolicyError as exc:
            raise PolicyError('probes: %s' % exc) from None
        if any(p.name == probe.name for p in probes):
            raise PolicyError('probes: probe %d (%s): the name is used twice'
                              % (index, probe.name))
        probes.append(probe)
    return tuple(probes)


_CHECKS: dict[str, Callable[[object, bool, float], Any]] = {
    'probe_interval': _probe_interval, 'failure_threshold': _threshold,
    'agent_loss': _agent_loss, 'monitor': _monitor, 'probes': _probes}


def _probe(index: int, item: object, text: bool) -> AppProbe:
    if not isinstance(item, Mapping):
        raise PolicyError('probe %d: must be a mapping, not %s'
                          % (index, _kind(item)))
    name = item.get('name')
    where = 'probe %d' % index if not isinstance(name, str) \
        else 'probe %d (%s)' % (index, name)
    try:
        for key in item:
            if key not in PROBE_KEYS:
                raise PolicyError('unknown key %r (known: %s)'
                                  % (key, ', '.join(PROBE_KEYS)))
        for key in ('name', 'exec'):
            if key not in item:
                raise PolicyError('no %r' % key)
        if not isinstance(name, str) or not _PROBE_NAME.match(name):
            raise PolicyError('name: must be letters, digits, "_", "." or '
                              '"-" (at most 64), not %r' % (name,))
        found: dict[str, Any] = {'name': name,
                                 'exec': _argv(item['exec'])}
        if 'timeout' in item:
            found['timeout'] = _seconds('timeout', item['timeout'], text)
        for key in ('every', 'threshold'):
            if key in item:
                found[key] = _whole(key, item[key], text, 1)
        if 'on_failure' in item:
            found['on_failure'] = OnFailure(
                _choice('on_failure', item['on_failure'], OnFailure))
    except PolicyError as exc:
        raise PolicyError('%s: %s' % (where, exc)) from None
    return AppProbe(**found)


def _argv(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or \
            not all(isinstance(arg, str) for arg in value):
        raise PolicyError('exec: must be a list of strings, the command and '
                          'its arguments (quote numbers), not %r' % (value,))
    if not value[0]:
        raise PolicyError('exec: the command is empty')
    return tuple(value)


# -- values ----------------------------------------------------------------------


def _whole(key: str, value: object, text: bool, minimum: int) -> int:
    if text and isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError('%s: must be a whole number, not %r' % (key, value))
    if value < minimum:
        raise PolicyError('%s: must be at least %d, not %d'
                          % (key, minimum, value))
    return value


def _seconds(key: str, value: object, text: bool) -> float:
    if text and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError('%s: must be a number of seconds, not %r'
                          % (key, value))
    if not 0 < value <= 3600:
        raise PolicyError('%s: must be above 0 and at most 3600 seconds, '
                          'not %g' % (key, value))
    return float(value)


def _choice(key: str, value: object, choices: Any) -> str:
    names = [c.value for c in choices]
    if not isinstance(value, str) or value not in names:
        raise PolicyError('%s: must be one of %s, not %r'
                          % (key, ', '.join(names), value))
    return value


def _kind(value: object) -> str:
    if value is None:
        return 'nothing'
    name = type(value).__name__
    return '%s %s' % ('an' if name[0] in 'aeiou' else 'a', name)
