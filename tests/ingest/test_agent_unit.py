"""The agent's systemd unit (deploy/systemd), checked by systemd's own verifier."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from config.settings import IngestSettings
from tests.support import REPO

UNIT = REPO / "deploy" / "systemd" / "smartcompute-agent.service"


def test_the_agent_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        raise AssertionError("systemd-analyze is not installed (.ci/run installs Debian's systemd)")
    installed = tmp_path / UNIT.name  # where this checkout's smartcompute is, as an operator would edit it
    installed.write_text(
        UNIT.read_text().replace(
            "/opt/smartcompute/bin/smartcompute", str(Path(sys.executable).with_name("smartcompute"))
        )
    )
    verified = subprocess.run(["systemd-analyze", "verify", str(installed)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_the_unit_runs_the_agent_with_its_spool_in_the_state_directory():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith("smartcompute agent")
    assert service["Environment"] == f"AGENT_SPOOL_DIR=/var/lib/{service['StateDirectory']}"
    defaults = {
        name: float(IngestSettings.model_fields[name].default)
        for name in ("AGENT_SHUTDOWN_SECONDS", "INGEST_TIMEOUT_SECONDS")
    }
    assert int(service["TimeoutStopSec"]) > sum(defaults.values())  # it stops before systemd kills it
