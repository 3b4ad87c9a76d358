"""Facts about the machine and the software a benchmark ran on."""

import datetime
import os
import pathlib
import platform
import re
import subprocess


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 'unknown (%s)' % exc
    return (out.stdout or out.stderr).strip().splitlines()[0] \
        if (out.stdout or out.stderr).strip() else 'unknown'


def cpu_model() -> str:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown'


def memory_gib() -> float:
    for line in pathlib.Path('/proc/meminfo').read_text().splitlines():
        if line.startswith('MemTotal:'):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def os_release() -> str:
    try:
        text = pathlib.Path('/etc/os-release').read_text()
    except OSError:
        return 'unknown'
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
    return match.group(1) if match else 'unknown'


def venv_package_version(venv: pathlib.Path, package: str) -> str:
    """Version of ``package`` installed in ``venv`` (from its dist-info)."""
    wanted = package.lower().replace('-', '_')
    for meta in venv.glob('lib/python*/site-packages/*.dist-info/METADATA'):
        name = meta.parent.name.rsplit('-', 1)[0].lower().replace('-', '_')
        if name == wanted:
            return meta.parent.name.rsplit('-', 1)[1].removesuffix(
                '.dist-info')
    return 'not installed'


def git_revision(repo: pathlib.Path) -> str:
    head = _first_line(['git', '-C', str(repo), 'rev-parse', '--short',
                        'HEAD'])
    dirty = subprocess.run(['git', '-C', str(repo), 'status', '--porcelain',
                            '--untracked-files=no'],
                           capture_output=True, text=True).stdout.strip()
    return head + (' (with uncommitted changes)' if dirty else '')


def facts(repo: pathlib.Path) -> dict[str, str]:
    try:
        import libvirt
        major, rest = divmod(libvirt.getVersion(), 1000000)
        minor, micro = divmod(rest, 1000)
        libvirt_version = '%d.%d.%d' % (major, minor, micro)
    except Exception as exc:   # the binding or libvirtd missing
        libvirt_version = 'unknown (%s)' % exc
    qemu = _first_line(['qemu-system-x86_64', '--version'])
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        'cpu': cpu_model(),
        'cores': str(os.cpu_count()),
        'memory': '%.1f GiB' % memory_gib(),
        'os': os_release(),
        'kernel': platform.release(),
        'libvirt': libvirt_version,
        'qemu': qemu.replace('QEMU emulator version ', ''),
        'python': platform.python_version(),
        'revision': git_revision(repo),
    }
