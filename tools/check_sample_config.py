"""Fail when the committed sample configuration is not current."""

import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE = ROOT / 'etc/masakari-introspect/masakari-introspect.conf.sample'
GENERATOR = ROOT / 'etc/oslo-config-generator/masakari-introspect.conf'


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = pathlib.Path(tmp) / 'sample.conf'
        subprocess.run(['oslo-config-generator', '--config-file',
                        str(GENERATOR), '--output-file', str(fresh)],
                       check=True, cwd=ROOT)
        if fresh.read_text() != SAMPLE.read_text():
            print('%s is stale: run "tox -e genconfig" and commit it'
                  % SAMPLE.relative_to(ROOT))
            return 1
    print('sample configuration is current')
    return 0


if __name__ == '__main__':
    sys.exit(main())
