"""A local HTTP server that speaks Slack's Web API (chat.postMessage) and incoming-webhook formats.

Slack itself cannot be reached from these machines. slack-sdk is pointed here with ``base_url``, as its own tests do.
``script`` serves canned failures (429 with Retry-After, 5xx) before answering normally.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
from typing import Iterator

TOKEN = "xoxb-test-secret-token"


class FakeSlack(http.server.ThreadingHTTPServer):
    """chat.postMessage and an incoming webhook; ``script`` holds canned failures to serve before succeeding."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[dict] = []
        self.script: list[tuple[int, dict, dict]] = []  # (status, body, headers)
        self.ts = 1000

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeSlack

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        body = json.loads(raw) if "json" in (self.headers.get("Content-Type") or "") else dict(
            urllib.parse.parse_qsl(raw))
        if self.server.script:
            status, answer, headers = self.server.script.pop(0)
            self._reply(status, answer, headers)
            return
        if self.path.startswith("/api/chat.postMessage"):
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(200, {"ok": False, "error": "invalid_auth"})
                return
            self.server.ts += 1
            ts = f"{self.server.ts}.0001"
            self.server.posts.append({**body, "path": "chat.postMessage", "answered_ts": ts})
            self._reply(200, {"ok": True, "channel": "C123", "ts": ts})
        elif self.path.startswith("/services/"):
            self.server.posts.append({**body, "path": "webhook"})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
        else:
            self._reply(404, {"ok": False, "error": "unknown_method"})

    def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def running_fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
