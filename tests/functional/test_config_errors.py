"""The installed ``masakari-introspect`` with bad configuration: one line
naming the option, exit code 2 (what systemd's RestartPreventExitStatus=2
relies on), no traceback. Needs the installed console script, not libvirtd:
each configuration also points at libvirt's in-process test driver."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.bed.service import console_script

SAFE = "[libvirt]\nconnection_uri = test:///default\n"
NO_AUTH = ("[masakari]\nauth_type = none\n"
           "endpoint_override = http://127.0.0.1:15868/v1\n")


def run(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "masakari-introspect.conf"
    conf.write_text(SAFE + f"[DEFAULT]\nstate_path = {tmp_path / 'state'}\n"
                    + text)
    return subprocess.run(console_script() + ["--config-file", str(conf)],
                          capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("text,option", [
    ("[masakari]\nauth_type = passwrod\n", "[masakari] auth_type"),
    ("[masakari]\nauth_type = password\n", "[masakari] auth_url"),
    (NO_AUTH + "valid_interfaces = intenral\n", "[masakari] valid_interfaces"),
    (NO_AUTH + "timeout = -3\n", "[masakari] timeout"),
    (NO_AUTH + "[DEFAULT]\nlog_dir = /nonexistent/mi-logs\n",
     "[DEFAULT] log_dir"),
    (NO_AUTH + "[metrics]\nlisten = 1.2.3.4.5:9178\n", "[metrics] listen"),
    ("[masakari]\nauth_section = service_user\n", "[masakari] auth_section"),
])
def test_installed_command_names_the_option(tmp_path, text, option):
    proc = run(tmp_path, text)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith("Deprecated:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("masakari-introspect: ")
    assert option in lines[0]
    assert "Traceback" not in proc.stderr


def test_installed_command_with_a_busy_metrics_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = run(tmp_path, NO_AUTH + f"[metrics]\nlisten = 127.0.0.1:{port}\n")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"masakari-introspect: [metrics] listen = 127.0.0.1:{port}: "
        "Address already in use")


def test_installed_commands_have_version():
    for name in ("masakari-introspect", "masakari-introspect-status",
                 "masakari-introspect-check"):
        script = Path(console_script()[0]).with_name(name)
        proc = subprocess.run([str(script), "--version"], capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().split()[-1][0].isdigit()


def test_installed_command_names_the_rule_and_key_of_a_bad_policy_file(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - match: {flavor: 'ha.*'}\n    failur_threshold: 2\n")
    proc = run(tmp_path, NO_AUTH + f"[introspection]\npolicy_file = {policy}\n")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith("Deprecated:")]
    assert lines == [f"masakari-introspect: [introspection] policy_file: {policy}: "
                     "rule 1 (flavor=ha.*): unknown key 'failur_threshold' (known: match, "
                     "probe_interval, failure_threshold, agent_loss, monitor, probes)"]
