"""Virtual environments of the bed, built with the distribution's python3.

Standard library only: tools/run-tests and tools/sandbox run it with
/usr/bin/python3 before anything else is installed::

    python3 -m tests.bed.venv DIR REQUIREMENT...

builds (once) a virtualenv at DIR holding the requirements.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PYTHON_ENV = "MASAKARI_BED_PYTHON"
MARKER_NAME = ".bed-installed"


def system_python() -> str:
    """The interpreter virtualenvs are built with: $MASAKARI_BED_PYTHON, else /usr/bin/python3."""
    override = os.environ.get(PYTHON_ENV)
    if override:
        return override
    if Path("/usr/bin/python3").exists():
        return "/usr/bin/python3"
    found = shutil.which("python3")
    if found is None:
        raise RuntimeError("no python3 found to build virtualenvs with")
    return found


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive flock on path, so parallel test processes build a venv only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_logged(cmd: Sequence[str | os.PathLike[str]], logfile: Path) -> None:
    """Run cmd, appending its output to logfile; raise with the tail of it on failure."""
    log.debug("running %s", " ".join(map(str, cmd)))
    with open(logfile, "a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        proc = subprocess.run(list(map(str, cmd)), stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "".join(logfile.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{tail}")


def build_venv(venv: Path, requirements: Sequence[str]) -> Path:
    """Create venv with requirements installed, once.

    A marker file holding the requirement list is written after a successful
    install; when it is present and matches, this returns at once. Otherwise
    the directory is rebuilt from scratch (a half-built venv is never reused).
    """
    marker = venv / MARKER_NAME
    wanted = "\n".join(requirements) + "\n"

    def ready() -> bool:
        return (
            marker.is_file()
            and marker.read_text() == wanted
            and (venv / "bin" / "python").exists()
        )

    if ready():
        return venv
    with file_lock(venv.with_name(venv.name + ".lock")):
        if ready():
            return venv
        started = time.monotonic()
        logfile = venv.with_name(venv.name + ".install.log")
        logfile.write_text("")
        if venv.exists():
            log.info("removing incomplete virtualenv %s", venv)
            shutil.rmtree(venv)
        python = system_python()
        log.info("building virtualenv %s with %s: %s", venv, python, " ".join(requirements))
        run_logged([python, "-m", "venv", venv], logfile)
        run_logged(
            [venv / "bin" / "python", "-m", "pip", "install", "--no-input", *requirements],
            logfile,
        )
        marker.write_text(wanted)
        log.info("virtualenv %s ready in %.1f s", venv, time.monotonic() - started)
    return venv


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[0].startswith("-"):
        print("usage: python3 -m tests.bed.venv DIR REQUIREMENT...", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="venv: %(message)s")
    try:
        build_venv(Path(argv[0]).absolute(), argv[1:])
    except (OSError, RuntimeError) as exc:
        print(f"venv: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
