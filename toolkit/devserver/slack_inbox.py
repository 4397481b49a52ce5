"""The demo's Slack inbox: a loopback HTTP server that speaks Slack's Web API and incoming webhooks, answers as Slack
does, and keeps what it receives.

Slack cannot be reached from a demo machine (nor from CI), so ``afkit demo`` points ``afkit watch`` here with
``AFKIT_SLACK_BASE_URL``, exactly as slack-sdk's own tests point it at a local server: the watcher's path is the
production path, only the host differs. Every message is appended to a JSON-lines file, which the afkit page and the
TUI read (through the plugin) to show the inbox; the tests read ``posts``. It binds to 127.0.0.1 only.

What it answers, as Slack does:

- ``chat.postMessage`` (JSON or form-encoded): the bot token, the channel (its id, or its name with or without ``#``),
  the text (at most 40,000 characters), the blocks (:func:`block_problems`: Block Kit's limits) and the ``metadata``
  (``event_type`` + ``event_payload``, kept with the message). The answer carries ``channel`` (the id), ``ts`` and
  ``message``.
- ``conversations.history`` and ``conversations.replies`` (GET with a query string, or POST): the channel's id only,
  ``oldest``/``latest`` (exclusive unless ``inclusive``), ``limit`` (100 by default, at most 999), ``cursor``;
  ``metadata`` only with ``include_all_metadata``. Replies in a thread are not in the history (unless broadcast);
  ``conversations.replies`` has the parent and its replies, oldest first. ``conversations.list`` lists the channel.
- an incoming webhook: 200 ``ok``, or 400 with ``invalid_payload``, ``invalid_blocks`` or ``no_text``.

Canned answers: ``script`` (status, body, headers) are served, in turn, to the next requests whatever they are;
``script_for(method, ...)`` queues one for the next request to one method only (``"webhook"`` for the webhook).
Requests are never logged: they carry the token.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.server
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

DEMO_INBOX_ENV = "AFKIT_DEMO_INBOX"  # the record file, named to Airflow's components by the demo that started them

WEBHOOK = "webhook"  # the method name of the incoming webhook, for ``script_for``
MAX_TEXT = 40_000  # characters of a message's text
MAX_BLOCKS = 50  # blocks in a message
HISTORY_LIMIT, MAX_HISTORY_LIMIT = 100, 999
# Block types a message may hold.
BLOCK_TYPES = frozenset({"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text",
                         "section", "table", "video"})
TEXT_TYPES = ("plain_text", "mrkdwn")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")  # channel names are lower case: an upper-case word is an id
_Scripted = tuple[int, "dict | str", dict]  # (status, body, headers)


class SlackInbox(http.server.ThreadingHTTPServer):
    """Slack's Web API (with the bot token it was given) and an incoming webhook, for one channel, into ``posts``.

    ``channel_id`` is the channel's id and ``channel_name`` its name. ``chat.postMessage`` reaches it by either; while
    ``any_name`` is true (the default: the demo and the tests post to names of their own choosing) any other channel
    *name* reaches it too, and with ``any_name=False`` every other name is ``channel_not_found``, as in a workspace with
    that one channel. Another id is always ``channel_not_found``, and the ``conversations.*`` methods take the id only.
    """

    daemon_threads = True
    bot_user_id = "U0DEMOBOT"  # who the bot token's messages are from
    bot_id = "B0DEMO"

    def __init__(self, token: str | None = None, record_to: Path | None = None, channel_id: str = "C0DEMO",
                 channel_name: str = "alerts", *, any_name: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token or f"xoxb-demo-{secrets.token_hex(12)}"
        self.record_to = record_to
        self.channel_id = channel_id
        self.channel_name = channel_name.lstrip("#")
        self.any_name = any_name
        self.posts: list[dict] = []
        self.script: list[_Scripted] = []  # served to the next requests, whatever they are
        self.scripted: dict[str, list[_Scripted]] = {}  # method -> served to that method's next requests
        self._last_us = 0  # the newest ts, in microseconds
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What ``AFKIT_SLACK_BASE_URL`` (slack-sdk's ``base_url``) must be."""
        return f"http://127.0.0.1:{self.server_address[1]}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/T0DEMO/B0DEMO/demo"

    def script_for(self, method: str, status: int, body: dict | str, headers: dict | None = None) -> None:
        """Answer the next request to ``method`` (``"chat.postMessage"``, ``"conversations.history"``, …, or
        ``"webhook"``) with this, instead of normally; call again to queue more. A ``str`` body is sent as text."""
        with self._lock:
            self.scripted.setdefault(method, []).append((status, body, dict(headers or {})))

    def receive(self, post: dict) -> dict:
        """Keep one message (and append it to the record file); returns it with its ``ts``: the time it arrived, in
        microseconds, unique. A token among its fields is not kept."""
        with self._lock:
            self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
            ts = f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"
            kept = {**{k: v for k, v in post.items() if k != "token"}, "ts": ts, "received_at": time.time()}
            self.posts.append(kept)
            if self.record_to is not None:
                with self.record_to.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(kept, sort_keys=True) + "\n")
            return kept

    def canned(self, method: str) -> _Scripted | None:
        """The scripted answer due for a request to ``method``, if any (``script`` first)."""
        with self._lock:
            if self.script:
                return self.script.pop(0)
            queue = self.scripted.get(method)
            return queue.pop(0) if queue else None

    def reaches(self, channel: object) -> bool:
        """Whether ``chat.postMessage``'s ``channel`` names this channel."""
        if not isinstance(channel, str) or not channel.strip():
            return False
        if not channel.startswith("#") and _CHANNEL_ID.fullmatch(channel):
            return channel == self.channel_id
        return channel.lstrip("#") == self.channel_name or self.any_name

    def channel_messages(self) -> list[dict]:
        """The kept messages of the channel (both ways in), oldest first."""
        with self._lock:
            return list(self.posts)


def block_problems(blocks: list) -> list[str]:
    """What breaks Block Kit's limits in a message's ``blocks``, in the words and JSON pointers of Slack's
    ``invalid_blocks`` answer; empty when they are valid. Checked: at most 50 blocks, known block types, a section's
    text (1-3,000 characters) or fields (at most 10, each 1-2,000), a header's plain text (at most 150), a context's
    elements (1-10, texts at most 3,000), a markdown block's text (at most 12,000), block ids (at most 255)."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict):
            problems.append(f"expected an object [json-pointer:{at}]")
            continue
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            problems.append(f"unsupported type: {kind} [json-pointer:{at}/type]" if kind is not None
                            else f"missing required field: type [json-pointer:{at}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or len(block_id) > 255):
            problems.append(f"must be a string of at most 255 characters [json-pointer:{at}/block_id]")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"must provide text or fields [json-pointer:{at}]")
            if "text" in block:
                problems += _text_problems(block["text"], f"{at}/text", 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    problems.append(f"expected a non-empty array [json-pointer:{at}/fields]")
                else:
                    if len(fields) > 10:
                        problems.append(f"no more than 10 items allowed [json-pointer:{at}/fields]")
                    for j, item in enumerate(fields):
                        problems += _text_problems(item, f"{at}/fields/{j}", 2000)
        elif kind == "header":
            problems += _text_problems(block.get("text"), f"{at}/text", 150, plain_only=True)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                problems.append(f"expected a non-empty array [json-pointer:{at}/elements]")
                continue
            if len(elements) > 10:
                problems.append(f"no more than 10 items allowed [json-pointer:{at}/elements]")
            for j, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    if not element.get("alt_text") or not (element.get("image_url") or element.get("slack_file")):
                        problems.append(f"an image needs image_url and alt_text [json-pointer:{at}/elements/{j}]")
                else:
                    problems += _text_problems(element, f"{at}/elements/{j}", 3000)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                problems.append(f"missing required field: text [json-pointer:{at}/text]")
            elif len(text) > 12000:
                problems.append(f"must be less than 12001 characters [json-pointer:{at}/text]")
    return problems


def _text_problems(obj: object, at: str, limit: int, plain_only: bool = False) -> list[str]:
    kinds = ("plain_text",) if plain_only else TEXT_TYPES
    if not isinstance(obj, dict):
        return [f"expected a text object [json-pointer:{at}]"]
    if obj.get("type") not in kinds:
        return [f"must be one of {', '.join(kinds)} [json-pointer:{at}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{at}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{at}/text]"]
    return []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: SlackInbox

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None  # Slack: invalid_json (Web API), invalid_payload (webhook)
            if not isinstance(body, dict):
                body = None
        else:  # form-encoded: slack-sdk sends nested values (blocks, metadata) as JSON strings
            body = {k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(raw)}
        self._route(body)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if not self.path.startswith("/api/"):
            self._reply(404, {"ok": False, "error": "unknown_method"})
            return
        self._route({})

    # -- routing ------------------------------------------------------------------------------------------------

    def _route(self, body: dict | None) -> None:
        """Answer one request: a canned answer when one is due, else the method's."""
        path, _, query = self.path.partition("?")
        if path.startswith("/services/"):
            method = WEBHOOK
        elif path.startswith("/api/"):
            method = path[len("/api/"):]
        else:
            method = ""
        canned = self.server.canned(method)
        if canned is not None:
            self._reply(*canned)
            return
        if method == WEBHOOK:
            self._webhook(body)
            return
        answer = {"chat.postMessage": self._post_message, "conversations.history": self._history,
                  "conversations.replies": self._replies, "conversations.list": self._list}.get(method)
        if answer is None:
            self._reply(404, {"ok": False, "error": "unknown_method"})
            return
        if body is None:
            self._reply(200, {"ok": False, "error": "invalid_json"})
            return
        args = {**{k: _maybe_json(v) for k, v in urllib.parse.parse_qsl(query)}, **body}
        if not self._authorised(args):
            self._reply(200, {"ok": False, "error": "invalid_auth"})
            return
        args.pop("token", None)
        self._reply(200, answer(args))

    def _authorised(self, args: dict) -> bool:
        """The bot token, in the Authorization header or (form-encoded POST) as the ``token`` argument."""
        header = self.headers.get("Authorization")
        if header is not None:
            return header == f"Bearer {self.server.token}"
        return self.command == "POST" and args.get("token") == self.server.token

    # -- the methods ----------------------------------------------------------------------------------------------

    def _post_message(self, args: dict) -> dict:
        server = self.server
        if not server.reaches(args.get("channel")):
            return {"ok": False, "error": "channel_not_found"}
        metadata = _parsed(args.get("metadata"))
        if metadata is not None:
            if not isinstance(metadata, dict):
                return {"ok": False, "error": "invalid_metadata_format"}
            if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"] \
                    or not isinstance(metadata.get("event_payload"), dict):
                return {"ok": False, "error": "invalid_metadata_schema"}
        text, blocks = args.get("text"), _parsed(args.get("blocks"))
        if blocks is not None and not isinstance(blocks, list):
            return {"ok": False, "error": "invalid_blocks_format"}
        if not text and not args.get("markdown_text") and not blocks and not args.get("attachments"):
            return {"ok": False, "error": "no_text"}
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        if blocks:
            problems = block_problems(blocks)
            if problems:
                return {"ok": False, "error": "invalid_blocks", "errors": problems,
                        "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}
        post = {k: v for k, v in args.items() if k not in ("metadata", "blocks", "thread_ts")}
        post["path"] = "chat.postMessage"
        if blocks is not None:
            post["blocks"] = blocks
        if metadata is not None:
            post["metadata"] = metadata
        if args.get("thread_ts") not in (None, ""):
            post["thread_ts"] = str(args["thread_ts"])
        kept = server.receive(post)
        return {"ok": True, "channel": server.channel_id, "ts": kept["ts"],
                "message": _message(kept, server.channel_messages(), metadata=True)}

    def _history(self, args: dict) -> dict:
        if args.get("channel") != self.server.channel_id:
            return {"ok": False, "error": "channel_not_found"}
        everything = self.server.channel_messages()
        top = [p for p in everything if not _is_reply(p) or _truthy(p.get("reply_broadcast"))]
        answer = _page(top, args, newest_first=True)
        if "messages" in answer:
            answer["messages"] = [_message(p, everything, _truthy(args.get("include_all_metadata")))
                                  for p in answer["messages"]]
            answer.update(pin_count=0, channel_actions_ts=None, channel_actions_count=0)
        return answer

    def _replies(self, args: dict) -> dict:
        if args.get("channel") != self.server.channel_id:
            return {"ok": False, "error": "channel_not_found"}
        everything = self.server.channel_messages()
        ts = str(args.get("ts") or "")
        asked = next((p for p in everything if p["ts"] == ts), None)
        if asked is None:
            return {"ok": False, "error": "thread_not_found"}
        parent = asked.get("thread_ts") if _is_reply(asked) else ts
        thread = [p for p in everything if p["ts"] == parent or p.get("thread_ts") == parent]
        answer = _page(thread, args, newest_first=False)
        if "messages" in answer:
            answer["messages"] = [_message(p, everything, _truthy(args.get("include_all_metadata")))
                                  for p in answer["messages"]]
        return answer

    def _list(self, args: dict) -> dict:
        return {"ok": True, "channels": [{"id": self.server.channel_id, "name": self.server.channel_name,
                                          "is_channel": True, "is_private": False, "is_archived": False,
                                          "is_member": True}],
                "response_metadata": {"next_cursor": ""}}

    def _webhook(self, body: dict | None) -> None:
        if body is None:
            self._reply(400, "invalid_payload")
            return
        blocks = _parsed(body.get("blocks"))
        if blocks is not None and (not isinstance(blocks, list) or block_problems(blocks)):
            self._reply(400, "invalid_blocks")
            return
        if not body.get("text") and not blocks and not body.get("attachments"):
            self._reply(400, "no_text")
            return
        self.server.receive({**body, "path": "webhook"})
        self._reply(200, "ok")

    # -- answering ------------------------------------------------------------------------------------------------

    def _reply(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:  # requests carry the token: never log them
        pass


def _is_reply(post: dict) -> bool:
    return bool(post.get("thread_ts")) and post.get("thread_ts") != post["ts"]


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, (str, int)) and str(value).lower() in ("1", "true"))


def _message(post: dict, everything: list[dict], metadata: bool) -> dict:
    """One kept post as Slack's API shows a message: ``metadata`` only when asked for."""
    message: dict = {"type": "message", "ts": post["ts"], "text": post.get("text") or ""}
    if post.get("path") == WEBHOOK:
        message.update(subtype="bot_message", bot_id=SlackInbox.bot_id)
    else:
        message.update(user=SlackInbox.bot_user_id, bot_id=SlackInbox.bot_id)
    if post.get("blocks"):
        message["blocks"] = post["blocks"]
    if _is_reply(post):
        message["thread_ts"] = post["thread_ts"]
        message["parent_user_id"] = SlackInbox.bot_user_id
        if _truthy(post.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
    else:
        replies = [p for p in everything if p.get("thread_ts") == post["ts"] and p["ts"] != post["ts"]]
        if replies:
            message.update(thread_ts=post["ts"], reply_count=len(replies), latest_reply=replies[-1]["ts"])
    if metadata and isinstance(post.get("metadata"), dict):
        message["metadata"] = post["metadata"]
    return message


def _page(posts: list[dict], args: dict, newest_first: bool) -> dict:
    """The ``oldest``/``latest``/``inclusive``/``limit``/``cursor`` window of ``posts`` (oldest first), as
    ``{"ok", "messages" (still posts), "has_more", "response_metadata"}``, or Slack's error."""
    try:
        oldest = Decimal(str(args.get("oldest") or "0"))
    except InvalidOperation:
        return {"ok": False, "error": "invalid_ts_oldest"}
    try:
        latest = Decimal(str(args["latest"])) if args.get("latest") not in (None, "") else None
    except InvalidOperation:
        return {"ok": False, "error": "invalid_ts_latest"}
    try:
        limit = int(args.get("limit") or 0)
    except (TypeError, ValueError):
        return {"ok": False, "error": "invalid_limit"}
    limit = min(limit, MAX_HISTORY_LIMIT) if limit > 0 else HISTORY_LIMIT
    inclusive = _truthy(args.get("inclusive"))
    window = []
    for post in posts:
        ts = Decimal(post["ts"])
        after = ts >= oldest if inclusive else ts > oldest
        before = latest is None or (ts <= latest if inclusive else ts < latest)
        if after and before:
            window.append(post)
    window.sort(key=lambda p: Decimal(p["ts"]), reverse=newest_first)
    cursor = args.get("cursor")
    if cursor:
        start = _cursor_ts(str(cursor))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
        window = [p for p in window if (Decimal(p["ts"]) <= start if newest_first else Decimal(p["ts"]) >= start)]
    shown, rest = window[:limit], window[limit:]
    next_cursor = base64.b64encode(f"next_ts:{rest[0]['ts']}".encode()).decode() if rest else ""
    return {"ok": True, "messages": shown, "has_more": bool(rest), "response_metadata": {"next_cursor": next_cursor}}


def _cursor_ts(cursor: str) -> Decimal | None:
    try:
        kind, _, ts = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        return Decimal(ts) if kind == "next_ts" else None
    except (binascii.Error, UnicodeDecodeError, InvalidOperation):
        return None


def _parsed(value: object) -> object:
    """A nested argument: None when absent or empty, parsed when sent as a JSON string (form encoding)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


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
