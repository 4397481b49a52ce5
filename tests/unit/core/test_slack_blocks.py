"""afkit's Slack messages stay within Slack's limits and show user data as text, whatever the data holds."""

from __future__ import annotations

import itertools
import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from slack_sdk.models.blocks import Block

from toolkit.core import slack_blocks as sb
from toolkit.core.alerts import Notification
from toolkit.core.cadence import CadenceChange, CadenceModel
from toolkit.core.cadence_impact import CadenceReport, SeamImpact
from toolkit.core.freshness import FreshnessStatus
from toolkit.core.slack_blocks import (ELLIPSIS, build_cadence_message, build_message, clip, escape, fit_blocks, link,
                                       mention, more, plain_text, unescape)
from toolkit.models import AssetEvent
from toolkit.sla import SLA

NOW = datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc)

# -- the pieces -----------------------------------------------------------------------------------------------------


def test_escape_turns_slacks_three_control_characters_into_entities_and_nothing_else():
    assert escape("a<b>&c *d* |e|") == "a&lt;b&gt;&amp;c *d* |e|"
    assert escape("&amp;") == "&amp;amp;"  # data is data, even when it looks like an entity


def test_link_escapes_the_url_keeps_pipes_out_of_the_label_and_drops_unusable_urls():
    assert link("https://x/a?b=1&c=2", "Run|book <x>") == "<https://x/a?b=1&amp;c=2|Run¦book &lt;x&gt;>"
    assert link("https://x/a|b", "L") == "<https://x/a%7Cb|L>"
    assert link("HTTP://x/", "") == "<HTTP://x/>"
    for url in (None, "", "javascript:alert(1)", "ftp://x/", "https://x/a b", "https://x/\n"):
        assert link(url, "Runbook & more") == "Runbook &amp; more"
    longest = "https://x/" + "a" * (sb.URL_LIMIT - len("https://x/"))
    assert link(longest, "R") == f"<{longest}|R>"
    assert link(longest + "a", "R") == "R"
    assert link("https://x/" + "&" * sb.URL_LIMIT, "R") == "R"  # measured once escaped


def test_mention_keeps_slacks_mention_syntax_and_escapes_everything_else():
    assert [mention(o) for o in ("@U42", "#C123", "!here", "!subteam^S1|@data")] == [
        "<@U42>", "<#C123>", "<!here>", "<!subteam^S1|@data>"]
    assert [mention(o) for o in ("#finance-data", "@Ufoo>bar", "<b>&", "@U42 x", "!a b", "@ursula")] == [
        "#finance-data", "@Ufoo&gt;bar", "&lt;b&gt;&amp;", "@U42 x", "!a b", "@ursula"]


def test_clip_cuts_with_an_ellipsis_and_never_inside_an_entity_or_a_link():
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abcdef", 1) == "…"
    assert clip("abcdef", 0) == ""
    assert clip("ab &amp; cd", 7) == "ab …"  # not "ab &am…"
    assert clip("ab &amp; cd", 9) == "ab &amp;…"
    assert clip("see <https://x|y> more", 10) == "see …"  # not "see <http…"
    assert clip("<https://x|y> and more text", 16) == "<https://x|y> a…"
    rng = random.Random(1)
    for _ in range(500):
        text = "".join(rng.choice("ab<>&|;") for _ in range(rng.randrange(60)))
        limit = rng.randrange(60)
        cut = clip(text, limit)
        assert len(cut) <= limit and (cut == text or cut.endswith(ELLIPSIS) or cut == "")


def test_more_keeps_a_prefix_and_counts_exactly_what_it_leaves_out():
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    assert more(names, 26) == "alpha beta gamma delta eps"
    assert more(names, 25) == "alpha beta gamma +2 more"
    assert more(names, 20) == "alpha beta +3 more"
    assert more(names, 13) == "alpha +4 more"
    assert more(names, 12) == "+5 more"
    assert more(names, 5) == "+5 m…"  # too short even for the count: clipped
    assert more(names, 20, ", ") == "alpha, beta, +3 more"
    assert more(names, 19, ", ") == "alpha, +4 more"
    assert more(names, 18, "\n") == "alpha\nbeta\n+3 more"
    assert more([], 0) == "" and more(["x" * 50], 10) == "+1 more"
    rng = random.Random(2)
    for _ in range(500):
        items = ["x" * rng.randrange(1, 12) for _ in range(rng.randrange(1, 40))]
        limit = rng.randrange(8, 200)
        joined = more(items, limit)
        assert len(joined) <= limit
        words = joined.split(" ")
        if words[-1] == "more":
            assert int(words[-2].lstrip("+")) == len(items) - (len(words) - 2)
            assert words[:-2] == items[:len(words) - 2]
        else:
            assert words == items


def test_fit_blocks_clips_and_caps_everything_without_touching_its_input():
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 200}},
              {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 4000},
               "fields": [{"type": "mrkdwn", "text": "f" * 2500} for _ in range(12)]},
              {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3500} for _ in range(12)]},
              *({"type": "divider"} for _ in range(60))]
    fitted = fit_blocks(blocks)
    assert len(blocks[1]["fields"]) == 12 and len(blocks[0]["text"]["text"]) == 200  # the input is left alone
    assert len(fitted) == sb.MAX_BLOCKS
    assert len(fitted[0]["text"]["text"]) <= sb.HEADER_TEXT_LIMIT
    assert len(fitted[1]["text"]["text"]) <= sb.SECTION_TEXT_LIMIT
    assert len(fitted[1]["fields"]) == sb.MAX_SECTION_FIELDS
    assert all(len(f["text"]) <= sb.SECTION_FIELD_LIMIT for f in fitted[1]["fields"])
    assert len(fitted[2]["elements"]) == sb.MAX_CONTEXT_ELEMENTS
    assert all(len(e["text"]) <= sb.CONTEXT_TEXT_LIMIT for e in fitted[2]["elements"])
    assert sum(len(t) for t in texts(fitted)) <= sb.BLOCKS_TEXT_BUDGET
    small = [{"type": "section", "text": {"type": "mrkdwn", "text": "short"}}, {"type": "context", "elements": [
        {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"}]}]
    assert fit_blocks(small) == small


def test_plain_text_is_the_message_text_within_budget():
    assert plain_text({"text": "LATE: x", "blocks": []}) == {"text": "LATE: x"}
    assert len(plain_text({"text": "x" * 50_000})["text"]) == sb.TEXT_BUDGET


def test_an_ordinary_alert_reads_as_before():
    sla = SLA("finance.daily_close", "close-lag", "max_lag", ("#finance-data", "@U42"), runbook="https://r/x")
    status = FreshnessStatus(sla, "at_risk", "last update 50s ago", expected="an update since 12:00", lag=timedelta(
        seconds=50), last_event=AssetEvent("finance.daily_close", NOW, "2026-12-01", "daily_close", "r1", 7),
        culprit="daily_close run r2 is still running", cause="upstream moved", cc=("#payments",))
    payload = build_message(Notification("open", "a1", sla.key, "k", status), "http://airflow/")
    assert payload["text"] == ("AT RISK: finance.daily_close — last update 50s ago; cause: upstream moved "
                               "(owners: #finance-data, @U42, #payments)")
    head, fields, context = payload["blocks"]
    assert head["text"]["text"] == ":large_orange_circle: *AT RISK: finance.daily_close*\nlast update 50s ago"
    assert [f["text"] for f in fields["fields"]] == [
        "*SLA*\nclose-lag (critical)", "*Owners*\n#finance-data <@U42> (cc #payments)",
        "*Expected*\nan update since 12:00", "*Last update*\n2026-12-01 13:00 UTC, partition 2026-12-01, 7 rows",
        "*Lag*\n50s", "*Culprit*\ndaily_close run r2 is still running", "*Cause*\nupstream moved",
        "*Run*\ndaily_close / r1"]
    assert context["elements"] == [{"type": "mrkdwn", "text": "<http://airflow/assets|Assets in Airflow> · "
                                                              "<https://r/x|Runbook>"}]


# -- whatever the data: the property ---------------------------------------------------------------------------------

SPECIAL = "<>&|"
# What the builders may add themselves: links, mentions, entities. Anything else in <, > or & came from the data.
MARKUP = re.compile(r"<https?://[^<>|\s]+(?:\|[^<>|]*)?>|<(?:@U|#C)[A-Z0-9]+>|<![A-Za-z0-9^_.|@-]+>|&(?:amp|lt|gt);")
LINK_URL = re.compile(r"<(https?://[^<>|\s]+)[|>]")
MORE = re.compile(r"\+(\d+) more$")


def words(rng: random.Random, length: int, alphabet: str = "abcxyz._-*~` " + SPECIAL) -> str:
    text = "".join(rng.choice(alphabet) for _ in range(length))
    return SPECIAL + text[len(SPECIAL):]  # every one of them, every time


def owner(rng: random.Random, i: int) -> str:
    """Owners without spaces (so they can be counted back), some in Slack's mention syntax, some with markup."""
    return rng.choice([f"@U{i:04d}X", f"#C{i:04d}", f"#data-platform-{i}<&>", f"owner.name.{i}|x", f"!here{i}"])


def texts(blocks: list[dict]) -> list[str]:
    found = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(block["text"]["text"])
        found += [f["text"] for f in block.get("fields") or []]
        found += [e["text"] for e in block.get("elements") or [] if "text" in e]
    return found


def check_payload(payload: dict, urls: set[str]) -> None:
    blocks, text = payload["blocks"], payload["text"]
    # (a) slack_sdk parses every block and its own validators pass
    parsed = Block.parse_all(blocks)
    assert len(parsed) == len(blocks) and all(b is not None for b in parsed)
    for block in parsed:
        block.validate_json()
    # (b) every limit, explicitly; the builders fit before the last line of defence does anything
    assert 0 < len(text) <= sb.TEXT_BUDGET <= sb.SLACK_TEXT_LIMIT
    assert len(blocks) <= sb.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert "text" not in block or 0 < len(block["text"]["text"]) <= sb.SECTION_TEXT_LIMIT
            assert len(block.get("fields", [])) <= sb.MAX_SECTION_FIELDS
            assert all(0 < len(f["text"]) <= sb.SECTION_FIELD_LIMIT for f in block.get("fields", []))
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= sb.MAX_CONTEXT_ELEMENTS
            assert all(0 < len(e["text"]) <= sb.CONTEXT_TEXT_LIMIT for e in block["elements"])
        elif block["type"] == "header":
            assert len(block["text"]["text"]) <= sb.HEADER_TEXT_LIMIT
    assert sum(len(t) for t in texts(blocks)) <= sb.BLOCKS_TEXT_BUDGET
    assert fit_blocks(blocks) == blocks
    # (c) no <, > or & of the data is left raw; links go only where the builder pointed them, within the URL limit
    for piece in [text, *texts(blocks)]:
        assert not set(MARKUP.sub("", piece)) & set("<>&"), piece
        for url in LINK_URL.findall(piece):
            assert url in urls and len(url) <= sb.URL_LIMIT


def counted(shown: str, total: int, sep: str = " ") -> None:
    """(d) ``shown`` lists a prefix of ``total`` items then "+N more", N exact."""
    found = MORE.search(shown)
    assert found, shown[-100:]
    head = shown[:found.start()]
    assert head == "" or head.endswith(sep)
    shown_items = len(head.split(sep)) - 1 if head else 0
    assert 0 < int(found.group(1)) == total - shown_items


def notification(rng: random.Random, kind: str, state: str) -> tuple[Notification, str]:
    owners = tuple(owner(rng, i) for i in range(100))
    cc = tuple(owner(rng, 100 + i) for i in range(100))
    runbook = rng.choice(["https://runbooks.example/x?a=1&b=<2>|3", "https://r/" + "&" * 4000,
                          "https://r/" + "a" * 3990, "javascript:alert(1)"])
    sla = SLA(words(rng, 1500), words(rng, 300), "max_lag", owners, severity=words(rng, 50), runbook=runbook)
    event = AssetEvent(sla.asset, NOW, words(rng, 300), words(rng, 250, "abc_<>&|"), words(rng, 250, "abc_<>&|"), 9)
    status = FreshnessStatus(sla, state, words(rng, 5000), expected=words(rng, 500), last_event=event,
                             lag=timedelta(minutes=rng.randrange(1, 9999)), culprit=words(rng, 5000),
                             cause=words(rng, 5000), cc=cc)
    return Notification(kind, "a1", sla.key, "k", status), runbook


def cadence_report(rng: random.Random, kind: str, consumers: int = 100, name_length: int = 1500,
                   owners_each: int = 100) -> CadenceReport:
    change = CadenceChange(NOW - timedelta(hours=3), timedelta(minutes=30), timedelta(minutes=5), kind, 1 / 6, 40, 4,
                           40, True)
    model = CadenceModel(80, timedelta(minutes=5), 0.1, "regular", change, (change,), ())
    impacts = tuple(SeamImpact(f"consumer_{i}_" + words(rng, 230, "abc_<>&|"),
                               tuple(owner(rng, 1000 * i + j) for j in range(owners_each)), 1.0, 288.0, 48.0, 1.0,
                               3, 120.0, 240.0, (words(rng, 40) + " (at risk)",), ())
                    for i in range(consumers))
    return CadenceReport(words(rng, name_length), tuple(owner(rng, i) for i in range(100)), model, impacts)


AIRFLOW_URLS = [None, "http://airflow.example:8080/", "https://airflow/" + "x" * 4000, "not a url"]


def target(url: str) -> str:
    """A URL as it appears inside Slack's link markup."""
    return escape(url).replace("|", "%7C")


def airflow_links(airflow_url: str | None) -> set[str]:
    return {target(airflow_url.rstrip("/") + "/assets")} if airflow_url else set()


@pytest.mark.parametrize(("kind", "state"), itertools.product(("open", "escalate", "remind", "recover"),
                                                              ("late", "at_risk", "fresh")))
def test_every_notification_fits_slack_and_shows_its_data_as_text(kind, state):
    for seed in range(4):
        rng = random.Random(f"{kind}-{state}-{seed}")
        note, runbook = notification(rng, kind, state)
        airflow_url = AIRFLOW_URLS[seed]
        payload = build_message(note, airflow_url)
        check_payload(payload, airflow_links(airflow_url) | {target(runbook)})
        # (d) owners and cc, counted back
        owners_field = next(f["text"] for f in payload["blocks"][1]["fields"] if f["text"].startswith("*Owners*\n"))
        owners, _, cc = owners_field.removeprefix("*Owners*\n").partition(" (cc ")
        counted(owners, 100)
        counted(cc.removesuffix(")"), 100)
        counted(payload["text"].rpartition("(owners: ")[2].removesuffix(")"), 200, ", ")
        # (e) the titles start as they always have
        label = state.replace("_", " ").upper()
        start = {"open": f"{label}: ", "escalate": "Now late: ", "remind": f"Still {label}: ",
                 "recover": "Recovered: "}[kind] + escape(note.status.sla.asset)[:100]
        assert payload["text"].startswith(start)
        assert payload["blocks"][0]["text"]["text"].startswith(f"{sb.EMOJI[state]} *{start}")
        assert [f["text"].partition("\n")[0] for f in payload["blocks"][1]["fields"]] == [
            "*SLA*", "*Owners*", "*Expected*", "*Last update*", "*Lag*", "*Culprit*", "*Cause*", "*Run*"]
        if len(escape(runbook)) > sb.URL_LIMIT or not runbook.startswith("https"):
            assert payload["blocks"][-1]["elements"][0]["text"].endswith("Runbook")  # the label stays, unlinked


@pytest.mark.parametrize("kind", ["faster", "slower", "irregular"])
def test_every_cadence_alert_fits_slack_and_shows_its_data_as_text(kind):
    for seed in range(4):
        rng = random.Random(f"{kind}-{seed}")
        report = cadence_report(rng, kind)
        airflow_url = AIRFLOW_URLS[seed]
        payload = build_cadence_message(report, airflow_url)
        check_payload(payload, airflow_links(airflow_url))
        fields = {f["text"].partition("\n")[0]: f["text"].partition("\n")[2] for f in payload["blocks"][1]["fields"]}
        assert list(fields) == ["*Before*", "*After*", "*Since*", "*Producer owners*", "*Consumers*"]
        counted(fields["*Producer owners*"], 100)
        counted(fields["*Consumers*"], 100, "\n")
        for line in fields["*Consumers*"].split("\n")[:-1]:
            counted(line.partition(": ")[2], 100)  # each consumer's own owners, after its DAG id
        start = "Cadence change: " + escape(report.asset)[:100]
        assert payload["text"].startswith(start)
        assert payload["blocks"][0]["text"]["text"].startswith(f":arrows_counterclockwise: *{start}")


def test_random_sizes_fit_too():
    """Everything between empty and the worst case, so no boundary between them breaks a limit."""
    rng = random.Random(3)
    for _ in range(150):
        n = rng.randrange(0, 120)
        sla = SLA(words(rng, rng.randrange(4, 2000)), words(rng, rng.randrange(4, 400)), "max_lag",
                  tuple(owner(rng, i) for i in range(n)), runbook=rng.choice([None, "https://r/" + "a" * rng.randrange(
                      2000)]))
        event = rng.choice([None, AssetEvent(sla.asset, NOW, None, "d", words(rng, rng.randrange(4, 400)))])
        status = FreshnessStatus(sla, rng.choice(["late", "at_risk", "fresh", "unknown"]),
                                 words(rng, rng.randrange(4, 6000)), last_event=event,
                                 culprit=rng.choice([None, words(rng, rng.randrange(4, 6000))]),
                                 cause=rng.choice([None, words(rng, rng.randrange(4, 6000))]),
                                 cc=tuple(owner(rng, 500 + i) for i in range(rng.randrange(0, 120))))
        kind = rng.choice(["open", "escalate", "remind", "recover"])
        check_payload(build_message(Notification(kind, "a", sla.key, "k", status), "http://a/"),
                      {"http://a/assets", target(sla.runbook or "")})
        report = cadence_report(rng, rng.choice(["faster", "slower", "irregular"]), rng.randrange(0, 80),
                                rng.randrange(4, 2000), rng.randrange(0, 30))
        check_payload(build_cadence_message(report, "http://a/"), {"http://a/assets"})


@pytest.mark.parametrize("consumers", [15, 60])
def test_cadence_alerts_with_many_consumers_fit(consumers):
    """The reported cases: 15 asset-triggered consumers made a 3,147-character text, 60 made 11,952."""
    change = CadenceChange(NOW - timedelta(hours=3), timedelta(minutes=30), timedelta(minutes=5), "faster", 1 / 6,
                           40, 4, 40, True)
    model = CadenceModel(80, timedelta(minutes=5), 0.1, "regular", change, (change,), ())
    impacts = tuple(SeamImpact(f"finance_consumer_dag_{i:02d}", ("#finance-data", f"@U0{i:03d}ABC"), 1.0, 288.0,
                               48.0, 1.0, 3, 120.0, 240.0, (f"finance.mart_{i:02d} (at risk)",), ())
                    for i in range(consumers))
    report = CadenceReport("stripe.payments", ("#payments-data",), model, impacts)
    assert len(report.message) > sb.CADENCE_MESSAGE_BUDGET
    payload = build_cadence_message(report, "http://airflow")
    check_payload(payload, {"http://airflow/assets"})
    consumers_field = payload["blocks"][1]["fields"][4]["text"]
    assert "finance_consumer_dag_00: #finance-data <@U0000ABC>" in consumers_field
    if consumers == 60:
        counted(consumers_field.removeprefix("*Consumers*\n"), 60, "\n")
    else:
        assert "more" not in consumers_field and consumers_field.count("\n") == 15
    assert payload["text"].startswith("Cadence change: stripe.payments — stripe.payments moved from every 30m")


def test_unescape_undoes_escape_exactly():
    for text in ("a & b", "<x>|y", "&amp; already", "&lt;tag&gt;", "plain"):
        assert unescape(escape(text)) == text
