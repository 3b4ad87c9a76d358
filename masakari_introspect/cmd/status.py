"""``masakari-introspect-status``: ask the running service.

    masakari-introspect-status [--config-file F] [--socket PATH] [--json]
    masakari-introspect-status maintenance on|off INSTANCE

Exit 0 on success, 1 when the service cannot be asked or refuses.
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from oslo_config import cfg

from masakari_introspect.ops.status_client import SocketNotConfigured
from masakari_introspect.ops.status_client import StatusClient
from masakari_introspect.ops.status_client import StatusError
from masakari_introspect.ops.status_client import StatusUnavailable
from masakari_introspect.ops.status_client import add_connection_arguments
from masakari_introspect.ops.status_client import socket_path
from masakari_introspect.core.status import InstanceStatus
from masakari_introspect.ops.snapshot import ServiceStatus
from masakari_introspect.ops.snapshot import Snapshot
from masakari_introspect.ops.snapshot import encode
from masakari_introspect.recovery.outbox import PendingNotification

PROJECT = 'masakari-introspect'
PROG = 'masakari-introspect-status'
COLUMNS = ('NAME', 'UUID', 'STATE', 'MISSES', 'LAST SUCCESS', 'HEARTBEAT',
           'LAST NOTIFICATION', 'POLICY', 'MAINTENANCE')
# Shown when some instance has application probes.
APPLICATION = 'APPLICATION'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Show what the running masakari-introspect '
        'service monitors, or switch maintenance of one instance.')
    add_connection_arguments(parser)
    parser.add_argument('--json', action='store_true',
                        help='print the service\'s answer as JSON')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    show = commands.add_parser('show', help='the instances and the service '
                               '(the default)')
    add_connection_arguments(show, suppress=True)
    show.add_argument('--json', action='store_true',
                      default=argparse.SUPPRESS)
    maintenance = commands.add_parser(
        'maintenance', help='exclude an instance from monitoring (on) or '
        'include it again (off); survives a restart of the service')
    add_connection_arguments(maintenance, suppress=True)
    maintenance.add_argument('--json', action='store_true',
                             default=argparse.SUPPRESS)
    maintenance.add_argument('switch', choices=('on', 'off'))
    maintenance.add_argument('instance', help='UUID or libvirt domain name')
    return parser


def main(argv: Sequence[str] | None = None,
         out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    answer: dict[str, Any] | Snapshot
    try:
        client = StatusClient(socket_path(args, PROG), timeout=args.timeout)
        if args.command == 'maintenance':
            answer = client.maintenance(args.instance, args.switch == 'on')
        else:
            answer = client.status()
    except cfg.Error as exc:
        return _fail('cannot read the configuration: %s (or give --socket)'
                     % exc)
    except (SocketNotConfigured, StatusUnavailable, StatusError) as exc:
        return _fail(str(exc))
    if isinstance(answer, Snapshot):
        if args.json:
            _dump({'ok': True, **encode(answer)}, out)
        else:
            out.write(render(answer))
    elif args.json:
        _dump(answer, out)
    else:
        out.write('Instance %s is %s maintenance\n' % (
            answer['uuid'], 'in' if answer['maintenance'] else 'out of'))
    return 0


def _dump(doc: dict[str, Any], out: TextIO) -> None:
    json.dump(doc, out, indent=2, sort_keys=True)
    out.write('\n')


def _fail(message: str) -> int:
    sys.stderr.write('%s: %s\n' % (PROG, message))
    return 1


def render(snapshot: Snapshot, now: float | None = None) -> str:
    """The service line and a table of instances, as text."""
    now = time.time() if now is None else now
    lines = [service_line(snapshot.service),
             *pending_lines(snapshot.service.notifications), '']
    if not snapshot.instances:
        lines.append('No instances monitored.')
        return '\n'.join(lines) + '\n'
    probed = any(i.probes for i in snapshot.instances)
    columns = COLUMNS + ((APPLICATION,) if probed else ())
    rows = [columns] + [(
        i.name, i.uuid, i.label, str(i.misses),
        _ago(i.seconds_since_success),
        '-' if i.heartbeat_age is None else '%.0f s ago' % i.heartbeat_age,
        _when(i.last_notification, now), i.rule or '-',
        'on' if i.maintenance else 'off',
        *((application(i),) if probed else ()))
        for i in snapshot.instances]
    widths = [max(len(row[col]) for row in rows) for col in range(len(columns))]
    for row in rows:
        lines.append('  '.join(cell.ljust(width) for cell, width
                               in zip(row, widths, strict=True)).rstrip())
    return '\n'.join(lines) + '\n'


def application(status: InstanceStatus) -> str:
    """Its application probes in a word each: ``web ok``, ``web failing
    (warn)``, ``db not allowed``; ``-`` without probes."""
    words = []
    for probe in status.probes:
        if probe.failing:
            words.append('%s FAILED%s' % (probe.name, ' (warn)' if
                                          probe.on_failure == 'warn' else ''))
        elif probe.refused:
            words.append('%s not allowed by the agent' % probe.name)
        elif probe.failures:
            words.append('%s %d failed' % (probe.name, probe.failures))
        else:
            words.append('%s %s' % (probe.name, 'ok' if probe.runs
                                    else 'not run yet'))
    return ', '.join(words) or '-'


def service_line(service: ServiceStatus) -> str:
    return 'Service on %s (pid %s): libvirt %s, %d notification(s) ' \
        'pending%s' % (
            service.host, service.pid,
            'connected' if service.libvirt_connected else 'NOT CONNECTED',
            service.notifications_pending,
            ', DRY RUN (nothing is sent)' if service.dry_run else '')


def pending_lines(pending: Sequence[PendingNotification]) -> list[str]:
    """One line per notification still pending: age, attempts, error."""
    return ['  pending: %s %s for %s, %d attempt(s)%s%s' % (
        item.instance_name or '-', item.instance_uuid,
        _ago(item.age).removesuffix(' ago'), item.attempts,
        ', next in %.0f s' % item.next_attempt if item.next_attempt else '',
        '; last error: %s' % item.last_error if item.last_error else '')
        for item in pending]


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return 'never'
    if seconds < 120:
        return '%.0f s ago' % seconds
    if seconds < 7200:
        return '%.0f min ago' % (seconds / 60)
    return '%.1f h ago' % (seconds / 3600)


def _when(stamp: float | None, now: float) -> str:
    if stamp is None:
        return '-'
    return '%s (%s)' % (time.strftime('%Y-%m-%d %H:%M:%S',
                                      time.localtime(stamp)),
                        _ago(max(now - stamp, 0.0)))


if __name__ == '__main__':
    sys.exit(main())
