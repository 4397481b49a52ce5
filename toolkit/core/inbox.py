"""Slack messages as a person reads them, pure: Block Kit in, threads of plain lines and the people mentioned out.

The demo's inbox receives exactly what Slack would (``chat.postMessage`` bodies and webhook payloads); the afkit page
and the TUI show it through this one renderer, so both say the same thing. Only the block kinds afkit sends are drawn
in detail (section text and fields, header, context, divider); any other block shows its kind, never nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EMOJI = {":red_circle:": "●", ":large_orange_circle:": "◐", ":large_green_circle:": "○", ":white_circle:": "·",
         ":arrows_counterclockwise:": "↻"}
LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>|<([^<>]+)>")
MENTION = re.compile(r"(?<![\w/&<#@])([#@][a-z0-9][\w.-]*)", re.IGNORECASE)
BOLD = re.compile(r"(?<!\w)\*([^*\n]+)\*(?!\w)")


@dataclass(frozen=True)
class InboxMessage:
    ts: str
    channel: str | None
    title: str
    lines: tuple[str, ...]
    mentions: tuple[str, ...]
    via: str  # chat.postMessage | webhook
    received_at: float | None = None


@dataclass(frozen=True)
class InboxThread:
    """A top-level message and its replies (recoveries, escalations, reminders), oldest first."""

    message: InboxMessage
    replies: tuple[InboxMessage, ...] = field(default=())


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn to plain text: links become their label, ``*bold*`` loses its stars, known emoji a symbol,
    and Slack's escapes (``&lt;`` ``&gt;`` ``&amp;``) their characters."""
    def link(match: re.Match) -> str:
        if match.group(2):
            return match.group(2)
        target = match.group(3)
        return target[1:] if target.startswith(("#C", "@U", "!")) else target

    text = LINK.sub(link, mrkdwn)
    text = BOLD.sub(r"\1", text)
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def block_lines(block: dict) -> list[str]:
    kind = block.get("type")
    if kind in ("section", "header"):
        lines = []
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            lines += plain(text["text"]).splitlines()
        for item in block.get("fields") or []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                label, _, value = plain(item["text"]).partition("\n")
                lines.append(f"{label}: {value.replace(chr(10), '; ')}" if value else label)
        return lines
    if kind == "context":
        parts = [plain(e["text"]) for e in block.get("elements") or [] if isinstance(e, dict)
                 and isinstance(e.get("text"), str)]
        return [" · ".join(parts)] if parts else []
    if kind == "divider":
        return ["—"]
    return [f"[{kind} block]"]


def render(post: dict) -> InboxMessage:
    """One received message. Without blocks, its ``text`` is the message."""
    blocks = post.get("blocks") if isinstance(post.get("blocks"), list) else []
    lines = [line for block in blocks if isinstance(block, dict) for line in block_lines(block)]
    if not lines:
        lines = plain(str(post.get("text") or "")).splitlines() or ["(empty message)"]
    everything = "\n".join([str(post.get("text") or ""), *lines])
    mentions = tuple(dict.fromkeys(MENTION.findall(everything)))
    return InboxMessage(ts=str(post.get("ts") or ""), channel=post.get("channel"), title=lines[0],
                        lines=tuple(lines[1:]), mentions=mentions, via=str(post.get("path") or "chat.postMessage"),
                        received_at=post.get("received_at"))


def threads(posts: list[dict]) -> list[InboxThread]:
    """Messages grouped into threads, newest thread first; a reply whose parent is not in ``posts`` (the inbox keeps
    only the newest messages) stands as its own thread."""
    tops: dict[str, InboxMessage] = {}
    replies: dict[str, list[InboxMessage]] = {}
    order: list[str] = []
    for post in posts:
        message = render(post)
        parent = post.get("thread_ts")
        if parent and parent in tops:
            replies.setdefault(parent, []).append(message)
            continue
        key = message.ts or f"#{len(order)}"
        tops[key] = message
        order.append(key)
    return [InboxThread(tops[key], tuple(replies.get(key, ()))) for key in reversed(order)]


def message_to_dict(message: InboxMessage) -> dict:
    return {"ts": message.ts, "channel": message.channel, "title": message.title, "lines": list(message.lines),
            "mentions": list(message.mentions), "via": message.via, "received_at": message.received_at}


def inbox_to_dict(enabled: bool, posts: list[dict]) -> dict:
    """The one JSON shape of the demo inbox: the plugin endpoint, the page and the TUI."""
    return {"enabled": enabled, "messages": len(posts),
            "threads": [{**message_to_dict(t.message), "replies": [message_to_dict(r) for r in t.replies]}
                        for t in threads(posts)]}
