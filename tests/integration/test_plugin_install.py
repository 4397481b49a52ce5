"""The plugin installed the other way — from a plugins folder, without pip — next to a broken afkit config.

A second api-server (its own virtualenv with Airflow but not afkit, sharing the suite's database) is started through
``python -m toolkit.devserver.launcher``, checked, then stopped with Ctrl-C (SIGINT): every process it started must be gone.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from toolkit.devserver.launcher import RunningAirflow, pid_alive

from .conftest import REPO, second_api_server

pytestmark = pytest.mark.integration


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_folder_installed_plugin_loads_despite_broken_config_and_ctrl_c_leaves_nothing(
    airflow: RunningAirflow, airflow_only_python: Path, tmp_path: Path
) -> None:
    config = tmp_path / "afkit.toml"
    config.write_text("[state\nurl = 1\n")  # not TOML at all
    with second_api_server(airflow, airflow_only_python, tmp_path, plugins=REPO / "plugins", api_workers=2,
                           extra_env={"AFKIT_CONFIG": str(config)}) as server:
        token_request = urllib.request.Request(
            server.url + "/auth/token",
            data=json.dumps({"username": "admin", "password": server.passwords["admin"]}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(token_request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        url = server.url

        plugins = [p for p in _get(url + "/api/v2/plugins", token)["plugins"] if p["name"] == "afkit"]
        assert len(plugins) == 1 and plugins[0]["source"].endswith("afkit_plugin.py"), plugins
        assert _get(url + "/api/v2/plugins/importErrors", token)["total_entries"] == 0

        health = _get(url + "/afkit/api/v1/health", token)
        assert health["config"]["ok"] is False
        assert health["config"]["path"] == str(config)
        assert "not valid TOML" in health["config"]["errors"][0]
        assert _get(url + "/api/v2/monitor/health", token)["metadatabase"]["status"] == "healthy"
    assert len(server.owned) >= 3, server.owned  # the api-server and its two workers were tracked
    assert [pid for pid in server.owned if pid_alive(pid)] == []
    assert server.exit_code == 0
