"""afkit's Slack messages, pure: Block Kit built to stay within Slack's documented limits, whatever the data holds.

Slack rejects a whole message (``invalid_blocks``) when one text is a character too long, and reads ``&``, ``<`` and
``>`` as markup. Asset names, owners, run ids and culprits come from users, so every piece of data goes through one
of the helpers here: :func:`escape` (or :func:`link`, :func:`mention`), then :func:`clip` or :func:`more` to a
budget, and :func:`fit_blocks` guarantees the limits at the end whatever a builder did.

Lengths are Python ``len`` (code points): Slack counts characters, not bytes.
"""

from __future__ import annotations

import copy
import re
from typing import Iterable

from toolkit.core.alerts import Notification
from toolkit.core.cadence_impact import CadenceReport
from toolkit.core.humanize import format_duration

# -- Slack's limits (Block Kit reference: blocks, section, context, header; chat.postMessage) ------------------------

MAX_BLOCKS = 50  # blocks per message
SECTION_TEXT_LIMIT = 3_000  # a section's text
MAX_SECTION_FIELDS = 10  # fields per section
SECTION_FIELD_LIMIT = 2_000  # each field's text
MAX_CONTEXT_ELEMENTS = 10  # elements per context block
CONTEXT_TEXT_LIMIT = 3_000  # a context text element (a text object's limit)
HEADER_TEXT_LIMIT = 150  # a header's plain_text
SLACK_TEXT_LIMIT = 40_000  # chat.postMessage ``text``: Slack truncates beyond this
# Not documented, but enforced: Slack refuses a message whose blocks hold about 12,000 characters of text in all
# (``msg_blocks_too_long``, slackapi/bolt-js#2509, #2867). Kept well under, with room for the block containers.
BLOCKS_TEXT_BUDGET = 10_000

# -- afkit's budgets, inside those limits ---------------------------------------------------------------------------

TEXT_BUDGET = 4_000  # the notification text, also the plain-text fallback: a push notification, not a report
# Longer URLs are dropped (the label stays, as text). Both of a message's links share one context element.
URL_LIMIT = 1_400
ASSET_BUDGET = 300  # an asset name in a title
NAME_BUDGET = 250  # a DAG id, run id, SLA name, partition key, expectation
PROSE_BUDGET = 800  # a reason, culprit or cause
CADENCE_MESSAGE_BUDGET = 1_500  # the seam report's paragraph, which names every consumer
OWNERS_BUDGET = 1_200  # the owners who are mentioned
CC_BUDGET = 600  # the owners in copy
CONSUMER_OWNERS_BUDGET = 200  # one consumer's owners, on its line

ELLIPSIS = "…"
EMOJI = {"late": ":red_circle:", "at_risk": ":large_orange_circle:", "fresh": ":large_green_circle:",
         "unknown": ":white_circle:"}
TITLE = {"open": "{status}: {asset}", "escalate": "Now late: {asset}", "remind": "Still {status}: {asset}",
         "recover": "Recovered: {asset} is fresh again"}

# Slack's own mention syntax: a user, a channel, or a special mention (!here, !subteam^S123|@team). Anything else,
# and anything with a space or a control character, is text.
MENTION_FORM = re.compile(r"(?:@U|#C)[A-Z0-9]+|![A-Za-z0-9^_.|@-]+")


# -- text pieces ----------------------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Data as mrkdwn shows it: Slack's three control characters as entities, nothing else touched."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """:func:`escape` undone: the text as a person reads it, for sinks that are not Slack (mail, pages)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut. Never cuts inside markup that
    :func:`escape`, :func:`link` or :func:`mention` made: a half entity (``&am``) or half link (``<http…``) is dropped
    whole, so what Slack parses is still what was meant."""
    if len(text) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    kept = text[:limit - len(ELLIPSIS)]
    opened = kept.rfind("<")
    if opened != -1 and ">" not in kept[opened:]:
        kept = kept[:opened]
    amp = kept.rfind("&")
    if amp != -1 and amp >= len(kept) - len("&amp") and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept + ELLIPSIS


def more(items: Iterable[str], limit_chars: int, sep: str = " ") -> str:
    """``items`` joined by ``sep``; when that is longer than ``limit_chars``, the longest prefix that fits followed by
    "+N more", N the exact count left out (e.g. "a b +3 more"). Below the length of "+N more" itself, that is clipped.
    """
    items = list(items)
    whole = sep.join(items)
    if len(whole) <= limit_chars:
        return whole
    lengths = [0]  # lengths[k]: len(sep.join(items[:k]))
    for i, item in enumerate(items):
        lengths.append(lengths[-1] + len(item) + (len(sep) if i else 0))
    for k in range(len(items) - 1, 0, -1):
        tail = f"+{len(items) - k} more"
        if lengths[k] + len(sep) + len(tail) <= limit_chars:
            return sep.join(items[:k]) + sep + tail
    return clip(f"+{len(items)} more", limit_chars)


def link(url: str | None, label: str) -> str:
    """``<url|label>``, the URL escaped and ``|`` kept out of the label (it ends the URL in Slack's syntax). Only the
    escaped label when the URL is missing, not http(s), holds whitespace or is longer than :data:`URL_LIMIT`."""
    text = escape(label).replace("|", "¦")
    if not url or not url.lower().startswith(("http://", "https://")) or any(c.isspace() or ord(c) < 32 for c in url):
        return text
    target = escape(url).replace("|", "%7C")
    if len(target) > URL_LIMIT:
        return text
    return f"<{target}|{text}>" if text else f"<{target}>"


def mention(owner: str) -> str:
    """An owner as Slack notifies them: ``@U…`` (a user), ``#C…`` (a channel) and ``!…`` (``!here``, a user group)
    become ``<…>``; anything else (``#finance-data``, a name) is escaped text."""
    return f"<{owner}>" if MENTION_FORM.fullmatch(owner) else escape(owner)


def _field(label: str, value: str) -> dict:
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}


# -- the last line of defence ---------------------------------------------------------------------------------------


def fit_blocks(blocks: list[dict]) -> list[dict]:
    """A copy of ``blocks`` within Slack's limits: every section text, field, context text and header clipped to its
    limit, fields and context elements capped at 10, blocks at 50, and all their text together within
    :data:`BLOCKS_TEXT_BUDGET` (the longest texts are shortened first). The builders already fit; this guarantees it,
    so one unexpected value costs a few characters, not the alert."""
    fitted = copy.deepcopy(blocks[:MAX_BLOCKS])
    texts: list[dict] = []  # every text object, in order
    for block in fitted:
        kind = block.get("type")
        if kind == "section":
            if isinstance(block.get("text"), dict):
                texts.append(_clip_object(block["text"], SECTION_TEXT_LIMIT))
            if isinstance(block.get("fields"), list):
                block["fields"] = block["fields"][:MAX_SECTION_FIELDS]
                texts += [_clip_object(f, SECTION_FIELD_LIMIT) for f in block["fields"] if isinstance(f, dict)]
        elif kind == "context" and isinstance(block.get("elements"), list):
            block["elements"] = block["elements"][:MAX_CONTEXT_ELEMENTS]
            texts += [_clip_object(e, CONTEXT_TEXT_LIMIT) for e in block["elements"]
                      if isinstance(e, dict) and isinstance(e.get("text"), str)]
        elif kind == "header" and isinstance(block.get("text"), dict):
            texts.append(_clip_object(block["text"], HEADER_TEXT_LIMIT))
    lengths = [len(t.get("text") or "") for t in texts]
    if sum(lengths) > BLOCKS_TEXT_BUDGET:
        cap = _common_cap(lengths, BLOCKS_TEXT_BUDGET)
        for t in texts:
            _clip_object(t, cap)
    return fitted


def _clip_object(obj: dict, limit: int) -> dict:
    if isinstance(obj.get("text"), str):
        obj["text"] = clip(obj["text"], limit)
    return obj


def _common_cap(lengths: list[int], budget: int) -> int:
    """The largest cap c with sum(min(length, c)) <= budget (at least 1)."""
    low, high = 1, max(lengths)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(n, mid) for n in lengths) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def plain_text(payload: dict) -> dict:
    """The message without blocks: its text, within budget. Sent when Slack rejects the rich message, so an alert
    still reaches its owners."""
    return {"text": clip(str(payload.get("text") or ""), TEXT_BUDGET)}


# -- the two messages -----------------------------------------------------------------------------------------------


def _assets_link(airflow_url: str | None) -> str | None:
    return link(airflow_url.rstrip("/") + "/assets", "Assets in Airflow") if airflow_url else None


def build_message(note: Notification, airflow_url: str | None = None) -> dict:
    """Text and Block Kit blocks for one notification: asset, owners, expected vs last, lag, culprit, run, links."""
    status = note.status
    sla = status.sla
    label = status.status.replace("_", " ")
    title = TITLE[note.kind].format(status=label.upper(), asset=clip(escape(sla.asset), ASSET_BUDGET))
    reason = clip(escape(status.reason), PROSE_BUDGET)
    owners = more((mention(o) for o in sla.owners), OWNERS_BUDGET)
    if status.cc:
        owners += " (cc " + more((mention(o) for o in status.cc), CC_BUDGET) + ")"
    last = status.last_event
    if last:
        updated = (f"{last.timestamp:%Y-%m-%d %H:%M UTC}"
                   + (f", partition {clip(escape(last.partition_key), NAME_BUDGET)}" if last.partition_key else "")
                   + (f", {last.row_count} rows" if last.row_count is not None else ""))
    else:
        updated = "never"
    fields = [
        _field("SLA", f"{clip(escape(sla.name), NAME_BUDGET)} ({clip(escape(sla.severity), NAME_BUDGET)})"),
        _field("Owners", owners),
        _field("Expected", clip(escape(status.expected), NAME_BUDGET) if status.expected else "-"),
        _field("Last update", updated),
        _field("Lag", format_duration(status.lag) if status.lag is not None else "-"),
        _field("Culprit", clip(escape(status.culprit), PROSE_BUDGET) if status.culprit else "-"),
    ]
    if status.cause:
        fields.append(_field("Cause", clip(escape(status.cause), PROSE_BUDGET)))
    if last and last.source_run_id:
        fields.append(_field("Run", f"{clip(escape(last.source_dag_id or '-'), NAME_BUDGET)} / "
                                    f"{clip(escape(last.source_run_id), NAME_BUDGET)}"))
    links = [x for x in (_assets_link(airflow_url), link(sla.runbook, "Runbook") if sla.runbook else None) if x]
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI.get(status.status, '')} *{title}*\n{reason}"}},
        {"type": "section", "fields": fields},
    ]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    cause = f"; cause: {clip(escape(status.cause), PROSE_BUDGET)}" if status.cause else ""
    everyone = more((escape(o) for o in (*sla.owners, *status.cc)), OWNERS_BUDGET + CC_BUDGET, ", ")
    text = f"{title} — {reason}{cause} (owners: {everyone})"
    return {"text": clip(text, TEXT_BUDGET), "blocks": fit_blocks(blocks)}


def build_cadence_message(report: CadenceReport, airflow_url: str | None = None) -> dict:
    """A cadence change, addressed to the producer's owners and every consumer's owners, with the seam report."""
    change = report.change
    assert change is not None, "only a changed asset has a message"
    title = f"Cadence change: {clip(escape(report.asset), ASSET_BUDGET)}"
    message = clip(escape(report.message), CADENCE_MESSAGE_BUDGET)
    producer = more((mention(o) for o in report.owners), OWNERS_BUDGET) or "-"
    lines = (f"{clip(escape(c.dag_id), NAME_BUDGET)}: "
             f"{more((mention(o) for o in c.owners), CONSUMER_OWNERS_BUDGET) or '-'}" for c in report.consumers)
    consumers = more(lines, SECTION_FIELD_LIMIT - len("*Consumers*\n"), "\n")
    fields = [
        _field("Before", f"every {format_duration(change.before)}"),
        _field("After", f"{'irregular, ~' if change.kind == 'irregular' else 'every '}{format_duration(change.after)}"),
        _field("Since", f"{change.at:%Y-%m-%d %H:%M UTC}"),
        _field("Producer owners", producer),
        _field("Consumers", consumers or "none asset-triggered"),
    ]
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":arrows_counterclockwise: *{title}*\n{message}"}},
        {"type": "section", "fields": fields},
    ]
    if airflow_url:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _assets_link(airflow_url)}]})
    everyone = dict.fromkeys([*report.owners, *(o for c in report.consumers for o in c.owners)])
    owners = more((escape(o) for o in everyone), OWNERS_BUDGET + CC_BUDGET, ", ")
    return {"text": clip(f"{title} — {message} (owners: {owners})", TEXT_BUDGET), "blocks": fit_blocks(blocks)}
