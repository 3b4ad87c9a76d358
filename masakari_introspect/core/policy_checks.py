"""The settings of a policy rule or of a domain's ``<policy>`` metadata,
checked one by one: each fault is a :class:`PolicyError` naming the key and
what is wrong. Used by :mod:`masakari_introspect.core.rules`. Pure.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

from masakari_introspect.core.policy import AgentLoss
from masakari_introspect.core.policy import AppProbe
from masakari_introspect.core.policy import OnFailure
from masakari_introspect.core.policy import Overrides

SETTINGS = ('probe_interval', 'failure_threshold', 'agent_loss', 'monitor',
            'probes')
PROBE_KEYS = ('name', 'exec', 'timeout', 'every', 'threshold', 'on_failure')
_PROBE_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0')


class PolicyError(ValueError):
    """One readable line: the rule (or metadata), the key, what is wrong."""


def overrides(settings: Mapping[str, object], where: str, interval: float,
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
        raise PolicyError('probes: must be a list, not %s' % kind(value))
    probes: list[AppProbe] = []
    for index, item in enumerate(value, 1):
        try:
            probe = probe_of(index, item, text)
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


def probe_of(index: int, item: object, text: bool) -> AppProbe:
    if not isinstance(item, Mapping):
        raise PolicyError('probe %d: must be a mapping, not %s'
                          % (index, kind(item)))
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


def kind(value: object) -> str:
    if value is None:
        return 'nothing'
    name = type(value).__name__
    return '%s %s' % ('an' if name[0] in 'aeiou' else 'a', name)
