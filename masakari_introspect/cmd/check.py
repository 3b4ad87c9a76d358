"""``masakari-introspect-check``: a monitoring plugin (Nagios convention).

Asks the running service over its status socket and prints one line with
performance data; exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Thresholds
follow the plugin guidelines: ``N`` alerts when the value is above N.

* CRITICAL: the service is not running or not answering, libvirt is
  unreachable, more than ``--critical-failing`` (0) instances failing, or an
  instance reached its recovery limit.
* WARNING: more than ``--warning-pending`` (0) notifications pending, more
  than ``--warning-no-agent`` (0) instances whose agent never answered, an
  agent failed in a guest that is still active, an application probe
  failing with ``on_failure: warn``, or dry-run mode. An application
  failure that was reported counts as failing.
* UNKNOWN: the check itself cannot work (configuration unreadable, socket
  not accessible to this user, an answer it does not understand).
"""

import argparse
import collections
import dataclasses
import enum
import sys
from collections.abc import Sequence
from typing import NoReturn

from oslo_config import cfg

from masakari_introspect.core.model import Phase
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.status_client import SocketNotConfigured
from masakari_introspect.ops.status_client import add_connection_arguments
from masakari_introspect.ops.status_client import socket_path
from masakari_introspect.ops.status_client import StatusClient
from masakari_introspect.ops.status_client import StatusError
from masakari_introspect.ops.status_client import StatusUnavailable
from masakari_introspect.ops.status_client import Unavailable

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: 'OK', WARNING: 'WARNING', CRITICAL: 'CRITICAL',
          UNKNOWN: 'UNKNOWN'}
NAME = 'MASAKARI-INTROSPECT'
SHOWN = 3   # failing instances named in the status line


class Kind(enum.Enum):
    """How the check counts an instance."""

    QUIET = 'quiet'          # no alert: starting, paused by a user
    HEALTHY = 'healthy'      # the agent answers
    FAILING = 'failing'      # against --warning/--critical-failing
    LIMITED = 'limited'      # failing, and its reports are held: CRITICAL
    NO_AGENT = 'no_agent'    # against --warning/--critical-no-agent
    ACTIVE = 'active'        # agent failed, guest active: WARNING
    MAINTENANCE = 'maintenance'   # excluded by the operator
    LOST = 'lost'            # agent lost, kernel alive: WARNING


# Every Phase has a line here (a unit test enumerates them); maintenance
# and the recovery limit come before the phase (see kind()).
KIND: dict[Phase, Kind] = {
    Phase.GRACE: Kind.QUIET,
    Phase.HEALTHY: Kind.HEALTHY,
    Phase.FAILING: Kind.FAILING,
    Phase.ACTIVE: Kind.ACTIVE,
    Phase.FAILED: Kind.FAILING,
    Phase.NO_AGENT: Kind.NO_AGENT,
    Phase.PAUSED: Kind.QUIET,
    Phase.FAILURE_PAUSE: Kind.FAILING,
    Phase.AGENT_LOST: Kind.LOST,
    Phase.KDUMP: Kind.QUIET,
}


def kind(status: InstanceStatus) -> Kind:
    if status.maintenance or status.phase is None:
        return Kind.MAINTENANCE
    if not status.monitored:
        return Kind.QUIET      # excluded by its policy: no alert
    if status.recovery_limited:
        return Kind.LIMITED
    found = KIND[status.phase]
    if found is Kind.HEALTHY and status.application == 'failed':
        return Kind.FAILING    # its application probe reported it
    return found


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Alert when a count is above the threshold; None: never."""

    warning_failing: int | None = None
    critical_failing: int | None = 0
    warning_pending: int | None = 0
    critical_pending: int | None = None
    warning_no_agent: int | None = 0
    critical_no_agent: int | None = None


def _level(value: int, warning: int | None, critical: int | None) -> int:
    if critical is not None and value > critical:
        return CRITICAL
    if warning is not None and value > warning:
        return WARNING
    return OK


def _perf(label: str, value: int, warning: int | None = None,
          critical: int | None = None) -> str:
    text = '%s=%d' % (label, value)
    if warning is None and critical is None:
        return text
    return '%s;%s;%s;0' % (text, '' if warning is None else warning,
                           '' if critical is None else critical)


def evaluate(snapshot: Snapshot,
             thresholds: Thresholds = Thresholds()) -> tuple[int, str]:
    """The exit code and the status line for a status snapshot."""
    service, instances = snapshot.service, snapshot.instances
    kinds = collections.Counter(kind(i) for i in instances)
    failing = [i for i in instances
               if kind(i) in (Kind.FAILING, Kind.LIMITED)]
    no_agent = kinds[Kind.NO_AGENT]
    pending = service.notifications_pending
    t = thresholds
    findings: list[tuple[int, str]] = []
    if not service.libvirt_connected:
        findings.append((CRITICAL, 'libvirt unreachable'))
    level = _level(len(failing), t.warning_failing, t.critical_failing)
    if level and failing:
        names = ', '.join('%s (%s)' % (i.name, i.label)
                          for i in failing[:SHOWN])
        more = len(failing) - SHOWN
        findings.append((level, 'failing: %s%s' % (
            names, ' and %d more' % more if more > 0 else '')))
    level = _level(pending, t.warning_pending, t.critical_pending)
    if level:
        findings.append((level, '%d notification(s) pending' % pending))
    level = _level(no_agent, t.warning_no_agent, t.critical_no_agent)
    if level:
        findings.append((level, '%d instance(s) whose agent never answered'
                         % no_agent))
    limited = [i.name for i in instances if kind(i) is Kind.LIMITED]
    if limited:
        findings.append((CRITICAL, 'recovery limit reached: %s' % ', '.join(
            limited[:SHOWN])))
    active = kinds[Kind.ACTIVE]
    if active:
        findings.append((WARNING, '%d instance(s) with a failed agent, guest '
                         'active' % active))
    lost = [i.name for i in instances if kind(i) is Kind.LOST]
    if lost:
        findings.append((WARNING, 'agent lost, kernel alive: %s' % ', '.join(
            lost[:SHOWN])))
    warned = ['%s (%s)' % (i.name, ', '.join(p.name for p in i.probes
                                             if p.failing))
              for i in instances if i.application == 'warning'
              and kind(i) is not Kind.MAINTENANCE]
    if warned:
        findings.append((WARNING, 'application probe failing: %s' %
                         ', '.join(warned[:SHOWN])))
    if service.dry_run:
        findings.append((WARNING, 'dry run: nothing is sent to Masakari'))
    code = max((level for level, _ in findings), default=OK)
    summary = '%d instances, %d failing' % (len(instances), len(failing))
    said = '; '.join(text for _, text in
                     sorted(findings, key=lambda f: -f[0]))
    perfdata = ' '.join([
        _perf('instances', len(instances)),
        _perf('failing', len(failing), t.warning_failing, t.critical_failing),
        _perf('pending', pending, t.warning_pending, t.critical_pending),
        _perf('no_agent', no_agent, t.warning_no_agent, t.critical_no_agent),
        _perf('healthy', kinds[Kind.HEALTHY]),
        _perf('maintenance', kinds[Kind.MAINTENANCE]),
        _perf('libvirt_connected', int(service.libvirt_connected)),
    ])
    return code, '%s %s - %s%s | %s' % (
        NAME, LABELS[code], summary, ': ' + said if said else '',
        perfdata)


def _threshold(text: str) -> int | None:
    if text.lower() in ('none', 'off'):
        return None
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors are UNKNOWN, not argparse's 2 (CRITICAL)."""
        self.print_usage(sys.stderr)
        sys.stdout.write('%s UNKNOWN - %s\n' % (NAME, message))
        sys.exit(UNKNOWN)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog='masakari-introspect-check',
        description='Monitoring plugin for masakari-introspect (exit 0 OK, '
        '1 WARNING, 2 CRITICAL, 3 UNKNOWN). A threshold N alerts when the '
        'count is above N; "none" disables it.')
    add_connection_arguments(parser)
    defaults = Thresholds()
    for field in dataclasses.fields(Thresholds):
        value = getattr(defaults, field.name)
        parser.add_argument(
            '--' + field.name.replace('_', '-'), type=_threshold,
            default=value, metavar='N',
            help='default: %s' % ('none' if value is None else value))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    thresholds = Thresholds(**{field.name: getattr(args, field.name)
                               for field in dataclasses.fields(Thresholds)})
    try:
        code, line = _check(args, thresholds)
    except Exception as exc:   # a plugin must say UNKNOWN, not crash
        code, line = UNKNOWN, '%s UNKNOWN - %s: %s' % (
            NAME, type(exc).__name__, exc)
    sys.stdout.write(line + '\n')
    return code


def _check(args: argparse.Namespace,
           thresholds: Thresholds) -> tuple[int, str]:
    try:
        path = socket_path(args)
    except cfg.Error as exc:
        return UNKNOWN, '%s UNKNOWN - cannot read the configuration: %s' % (
            NAME, exc)
    except SocketNotConfigured as exc:
        return UNKNOWN, '%s UNKNOWN - %s' % (NAME, exc)
    try:
        snapshot = StatusClient(path, timeout=args.timeout).status()
    except StatusUnavailable as exc:
        code = UNKNOWN if exc.why in (Unavailable.PERMISSION,
                                      Unavailable.PROTOCOL) else CRITICAL
        return code, '%s %s - %s' % (NAME, LABELS[code], exc)
    except StatusError as exc:
        return CRITICAL, '%s CRITICAL - the service cannot tell: %s' % (
            NAME, exc)
    return evaluate(snapshot, thresholds)


if __name__ == '__main__':
    sys.exit(main())
