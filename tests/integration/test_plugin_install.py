"""The plugin installed the other way — from a plugins folder, without pip — next to a broken afkit config.

A second api-server (its own virtualenv with Airflow but not afkit, sharing the suite's database) is started through
``python -m toolkit.devserver.launcher``, checked, then stopped with Ctrl-C (SIGINT): every process it started must be gone.
"""

from __future__ import annotations

import json
import select
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from toolkit.devserver.launcher import RunningAirflow, pid_alive

from .conftest import REPO

pytestmark = pytest.mark.integration


def _airflow_only_venv(path: Path) -> Path:
    """Airflow and afkit's dependencies, but not afkit itself: no ``airflow.plugins`` entry point exists there."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (./dev setup installs it into .venv); cannot build the second virtualenv")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["airflow"]
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(path)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), "-c",
         str(REPO / "constraints.txt"), *requirements],
        check=True, timeout=900,
    )
    return path / "bin" / "python"


def _read_ready_line(proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited with {proc.returncode}")
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("{"):
                return json.loads(line)
    raise AssertionError("launcher did not report ready in time")


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_folder_installed_plugin_loads_despite_broken_config_and_ctrl_c_leaves_nothing(
    airflow: RunningAirflow, tmp_path: Path
) -> None:
    python = _airflow_only_venv(tmp_path / "venv")
    source = tmp_path / "src"
    shutil.copytree(REPO / "toolkit", source / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "afkit.toml"
    config.write_text("[state\nurl = 1\n")  # not TOML at all
    home, pidfile = tmp_path / "home", tmp_path / "pids.json"
    proc = subprocess.Popen(
        [str(python), "-m", "toolkit.devserver.launcher", "--home", str(home), "--dags", str(REPO / "dags"),
         "--database", airflow.database_url, "--components", "api-server", "--api-workers", "2", "--no-migrate",
         "--plugins", str(REPO / "plugins"), "--pidfile", str(pidfile), "--env", f"AFKIT_CONFIG={config}"],
        cwd=tmp_path, env={**airflow.env, "PYTHONPATH": str(source), "AIRFLOW_HOME": str(home)},
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = _read_ready_line(proc, timeout=240)["url"]
        passwords = json.loads((home / "passwords.json").read_text())
        token_request = urllib.request.Request(
            url + "/auth/token", data=json.dumps({"username": "admin", "password": passwords["admin"]}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(token_request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]

        plugins = [p for p in _get(url + "/api/v2/plugins", token)["plugins"] if p["name"] == "afkit"]
        assert len(plugins) == 1 and plugins[0]["source"].endswith("afkit_plugin.py"), plugins
        assert _get(url + "/api/v2/plugins/importErrors", token)["total_entries"] == 0

        health = _get(url + "/afkit/api/v1/health", token)
        assert health["config"]["ok"] is False
        assert health["config"]["path"] == str(config)
        assert "not valid TOML" in health["config"]["errors"][0]
        assert _get(url + "/api/v2/monitor/health", token)["metadatabase"]["status"] == "healthy"
    finally:
        proc.send_signal(signal.SIGINT)
        exit_code = proc.wait(timeout=90)
    owned = json.loads(pidfile.read_text())
    assert len(owned) >= 3, owned  # the api-server and its two workers were tracked
    assert [pid for pid in owned if pid_alive(pid)] == []
    assert exit_code == 0
