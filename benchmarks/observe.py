"""Reading what processes did: log timestamps and /proc accounting."""

import datetime
import os
import pathlib
import re
from collections.abc import Iterable

# oslo.log's default format starts with "2026-11-21 18:40:01.123 ".
LOG_TIME = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ',
                      re.MULTILINE)
CLOCK_TICK = os.sysconf('SC_CLK_TCK')


def file_size(path: pathlib.Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: pathlib.Path, start: int, end: int | None = None) -> str:
    """The text of ``path`` between two byte offsets."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(end - start)
    except FileNotFoundError:
        return ''
    return data.decode(errors='replace')


def stamped(text: str, pattern: re.Pattern[str]
            ) -> Iterable[tuple[float, re.Match[str]]]:
    """(epoch seconds, match) for each log line whose message matches."""
    for line in text.splitlines():
        stamp = LOG_TIME.match(line)
        if stamp is None:
            continue
        match = pattern.search(line, stamp.end())
        if match is None:
            continue
        when = datetime.datetime.strptime(stamp.group(1),
                                          '%Y-%m-%d %H:%M:%S.%f')
        yield when.timestamp(), match


def times_by_uuid(text: str, pattern: re.Pattern[str]
                  ) -> dict[str, list[float]]:
    """Log times of the lines matching ``pattern`` (group ``uuid``)."""
    found: dict[str, list[float]] = {}
    for when, match in stamped(text, pattern):
        found.setdefault(match.group('uuid'), []).append(when)
    return found


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [b - a for a, b in zip(ordered, ordered[1:], strict=False)]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    stat = pathlib.Path('/proc/%d/stat' % pid).read_text()
    fields = stat.rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def rss_kib(pid: int) -> int:
    for line in pathlib.Path('/proc/%d/status' % pid).read_text() \
            .splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def process_group(pgid: int) -> list[int]:
    """Live processes of a process group (a monitor and any children)."""
    members = []
    for entry in pathlib.Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != 'Z':
            members.append(int(entry.name))
    return members


def command_lines() -> dict[int, str]:
    found = {}
    for entry in pathlib.Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / 'cmdline').read_bytes()
            except OSError:
                continue
            found[int(entry.name)] = raw.replace(b'\0', b' ').decode(
                errors='replace').strip()
    return found
