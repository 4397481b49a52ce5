"""afkit refuses, with a clear message, servers that are not Airflow 3.

Airflow 2 cannot be installed next to Airflow 3, so its one relevant behaviour — ``/api/v2`` missing and
``/api/v1/version`` answering — is served by a small local HTTP server; the "not Airflow at all" case is a real
non-Airflow server (Python's own http.server).
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import ConnectionSettings
from toolkit.errors import ExitCode, NotAirflow3


class _Airflow2VersionOnly(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/api/v1/version":
            body, status = json.dumps({"version": "2.10.5", "git_version": None}).encode(), 200
        else:
            body, status = b'{"detail": "Not Found"}', 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(handler: type) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


def test_airflow_2_is_named(serve):
    url = serve(_Airflow2VersionOnly)
    with AirflowClient(ConnectionSettings(url=url, username="a", password="b")) as client:
        with pytest.raises(NotAirflow3) as caught:
            client.pools.list()
    assert str(caught.value) == f"afkit needs Airflow 3.x; {url} answered with Airflow 2.10.5 (API v1)"
    assert caught.value.exit_code == ExitCode.CONNECTION


def test_a_web_server_that_is_not_airflow(serve, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # SimpleHTTPRequestHandler serves the current directory: an empty one
    url = serve(_Quiet)
    with AirflowClient(ConnectionSettings(url=url, token="t")) as client:
        with pytest.raises(NotAirflow3, match=r"answered HTTP 404 to /api/v2/version .* is this the Airflow API server URL"):
            client.dags.list()
