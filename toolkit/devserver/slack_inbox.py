"""The demo's Slack inbox: a loopback HTTP server that speaks Slack's Web API (``chat.postMessage``) and incoming
webhooks, and keeps what it receives.

Slack cannot be reached from a demo machine (nor from CI), so ``afkit demo`` points ``afkit watch`` here with
``AFKIT_SLACK_BASE_URL``, exactly as slack-sdk's own tests point it at a local server: the watcher's path is the
production path, only the host differs. Every message is appended to a JSON-lines file, which the afkit page and the
TUI read (through the plugin) to show the inbox; the tests read ``posts``. It binds to 127.0.0.1 only. ``script``
holds canned failures (429 with Retry-After, 5xx) to serve before answering normally.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

DEMO_INBOX_ENV = "AFKIT_DEMO_INBOX"  # the record file, named to Airflow's components by the demo that started them

class SlackInbox(http.server.ThreadingHTTPServer):
    """chat.postMessage (with the bot token it was given) and an incoming webhook, both into ``posts``."""

    daemon_threads = True

    def __init__(self, token: str | None = None, record_to: Path | None = None, channel_id: str = "C0DEMO") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token or f"xoxb-demo-{secrets.token_hex(12)}"
        self.record_to = record_to
        self.channel_id = channel_id
        self.posts: list[dict] = []
        self.script: list[tuple[int, dict, dict]] = []  # (status, body, headers)
        self._ts = int(time.time())
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What ``AFKIT_SLACK_BASE_URL`` (slack-sdk's ``base_url``) must be."""
        return f"http://127.0.0.1:{self.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T0DEMO/B0DEMO/demo"

    def receive(self, post: dict) -> dict:
        """Keep one message (and append it to the record file); returns it with its ``ts``."""
        with self._lock:
            self._ts += 1
            kept = {**post, "ts": f"{self._ts}.000100", "received_at": time.time()}
            self.posts.append(kept)
            if self.record_to is not None:
                with self.record_to.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(kept, sort_keys=True) + "\n")
            return kept


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SlackInbox

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw)
        else:  # form-encoded: slack-sdk sends nested values (blocks) as JSON strings
            body = {k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(raw)}
        if self.server.script:
            status, answer, headers = self.server.script.pop(0)
            self._reply(status, answer, headers)
            return
        if self.path.startswith("/api/chat.postMessage"):
            if self.headers.get("Authorization") != f"Bearer {self.server.token}":
                self._reply(200, {"ok": False, "error": "invalid_auth"})
                return
            kept = self.server.receive({**body, "path": "chat.postMessage"})
            self._reply(200, {"ok": True, "channel": self.server.channel_id, "ts": kept["ts"]})
        elif self.path.startswith("/services/"):
            self.server.receive({**body, "path": "webhook"})
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

    def log_message(self, *args: object) -> None:  # requests carry the token: never log them
        pass


def _maybe_json(value: str):
    if value[:1] in "[{":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


@contextlib.contextmanager
def running_inbox(token: str | None = None, record_to: Path | None = None) -> Iterator[SlackInbox]:
    """A started inbox, shut down on exit."""
    server = SlackInbox(token, record_to)
    threading.Thread(target=server.serve_forever, name="slack-inbox", daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def read_inbox(path: Path, limit: int = 200) -> list[dict]:
    """The newest ``limit`` messages of a record file, oldest first; a line still being written is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    posts = []
    for line in lines[-limit:]:
        with contextlib.suppress(ValueError):
            post = json.loads(line)
            if isinstance(post, dict):
                posts.append(post)
    return posts
