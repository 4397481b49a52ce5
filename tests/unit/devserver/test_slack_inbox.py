"""The Slack inbox answers as Slack does, driven by slack-sdk's own clients: chat.postMessage's validation and metadata,
conversations.history's window, paging and threads, conversations.replies, the webhook's errors, canned failures."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from toolkit.devserver.slack_inbox import SlackInbox, block_problems

TOKEN = "xoxb-inbox-test-token"
META = {"event_type": "afkit_alert", "event_payload": {"alert_id": "a1", "message": "a1:open:"}}


@pytest.fixture
def server():
    """An inbox that knows one channel, C0DEMO, named alerts, and no other name."""
    inbox = SlackInbox(TOKEN, any_name=False)
    thread = threading.Thread(target=inbox.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield inbox
    inbox.shutdown()
    inbox.server_close()
    thread.join()


@pytest.fixture
def client(server) -> WebClient:
    return WebClient(token=TOKEN, base_url=server.base_url)


def post(client: WebClient, text: str = "hello", **kwargs):
    return client.chat_postMessage(channel=kwargs.pop("channel", "#alerts"), text=text, **kwargs)


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def history(client: WebClient, **kwargs) -> dict:
    return client.conversations_history(channel="C0DEMO", **kwargs).data


def texts(page: dict) -> list[str]:
    return [m["text"] for m in page["messages"]]


# -- chat.postMessage ---------------------------------------------------------------------------------------------


def test_a_post_answers_with_the_channel_id_its_ts_and_the_message(client, server):
    answer = post(client, "first", metadata=META)
    assert answer["ok"] and answer["channel"] == "C0DEMO"
    assert answer["message"] == {"type": "message", "ts": answer["ts"], "text": "first", "user": server.bot_user_id,
                                 "bot_id": server.bot_id, "metadata": META}
    (kept,) = server.posts
    assert kept["channel"] == "#alerts" and kept["ts"] == answer["ts"] and kept["metadata"] == META
    later = post(client, "second")
    assert float(later["ts"]) > float(answer["ts"])  # a ts is the time it arrived: unique, increasing


def test_metadata_comes_back_in_the_history_only_when_asked_for(client):
    sent = post(client, "with metadata", metadata=META)
    # form-encoded, metadata as a JSON string, as a client without JSON bodies sends it
    form = client.api_call("chat.postMessage", params={"channel": "C0DEMO", "text": "form", "metadata": json.dumps(
        {"event_type": "afkit_alert", "event_payload": {"n": 2}})})
    plain = history(client)
    assert texts(plain) == ["form", "with metadata"] and all("metadata" not in m for m in plain["messages"])
    full = history(client, include_all_metadata=True)
    assert [m.get("metadata") for m in full["messages"]] == [
        {"event_type": "afkit_alert", "event_payload": {"n": 2}}, META]
    assert [m["ts"] for m in full["messages"]] == [form["ts"], sent["ts"]]
    assert all(m["type"] == "message" and m["user"] for m in full["messages"])


def test_malformed_metadata_is_refused(client, server):
    assert error_of(lambda: post(client, metadata={"event_payload": {}})).response["error"] == \
        "invalid_metadata_schema"
    assert error_of(lambda: client.api_call("chat.postMessage", params={
        "channel": "C0DEMO", "text": "x", "metadata": "not json"})).response["error"] == "invalid_metadata_format"
    assert server.posts == []


def test_the_channel_is_reached_by_its_id_or_its_name_only(client, server):
    for channel in ("C0DEMO", "#alerts", "alerts"):
        assert post(client, channel=channel)["channel"] == "C0DEMO"
    for channel in ("#elsewhere", "elsewhere", "C0OTHER", ""):
        assert error_of(lambda: post(client, channel=channel)).response["error"] == "channel_not_found"
    assert len(server.posts) == 3


def test_by_default_any_name_reaches_the_channel_but_no_other_id():
    inbox = SlackInbox(TOKEN)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    try:
        web = WebClient(token=TOKEN, base_url=inbox.base_url)
        assert post(web, channel="#data-incidents")["channel"] == "C0DEMO"
        assert error_of(lambda: post(web, channel="C0OTHER")).response["error"] == "channel_not_found"
    finally:
        inbox.shutdown()
        inbox.server_close()


def test_text_over_40000_characters_is_msg_too_long(client, server):
    assert post(client, "x" * 40_000)["ok"]
    assert error_of(lambda: post(client, "x" * 40_001)).response["error"] == "msg_too_long"
    assert len(server.posts) == 1


def test_a_message_with_neither_text_nor_blocks_is_no_text(client, server):
    with pytest.warns(UserWarning):  # slack-sdk warns too
        assert error_of(lambda: client.chat_postMessage(channel="C0DEMO")).response["error"] == "no_text"
    with pytest.warns(UserWarning):
        assert error_of(lambda: client.chat_postMessage(channel="C0DEMO", text="", blocks=[])
                        ).response["error"] == "no_text"
    with pytest.warns(UserWarning):  # blocks alone are a message
        assert client.chat_postMessage(channel="C0DEMO", blocks=[{"type": "divider"}])["ok"]
    assert len(server.posts) == 1


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def fields(n: int, size: int = 5) -> dict:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * size} for _ in range(n)]}


def context(n: int, size: int = 5) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * size} for _ in range(n)]}


def header(size: int) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * size}}


AT_THE_LIMITS = {
    "50 blocks": [{"type": "divider"}] * 50,
    "section text of 3,000": [section("s" * 3000)],
    "10 fields": [fields(10)],
    "a field of 2,000": [fields(1, 2000)],
    "10 context elements": [context(10)],
    "a context element of 3,000": [context(1, 3000)],
    "a header of 150": [header(150)],
}
OVER_THE_LIMITS = {
    "51 blocks": ([{"type": "divider"}] * 51, "/blocks]"),
    "section text of 3,001": ([section("s" * 3001)], "/blocks/0/text/text]"),
    "empty section text": ([section("")], "/blocks/0/text/text]"),
    "11 fields": ([fields(11)], "/blocks/0/fields]"),
    "a field of 2,001": ([fields(2, 2001)], "/blocks/0/fields/0/text]"),
    "11 context elements": ([context(11)], "/blocks/0/elements]"),
    "a context element of 3,001": ([context(1, 3001)], "/blocks/0/elements/0/text]"),
    "a header of 151": ([header(151)], "/blocks/0/text/text]"),
    "a header in mrkdwn": ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text/type]"),
    "an unknown block type": ([section("ok"), {"type": "banner"}], "/blocks/1/type]"),
}


@pytest.mark.parametrize("blocks", AT_THE_LIMITS.values(), ids=AT_THE_LIMITS.keys())
def test_blocks_at_block_kits_limits_are_posted(client, blocks):
    assert block_problems(blocks) == []
    assert post(client, "fallback", blocks=blocks)["message"]["blocks"] == blocks


@pytest.mark.parametrize(("blocks", "pointer"), OVER_THE_LIMITS.values(), ids=OVER_THE_LIMITS.keys())
def test_blocks_over_block_kits_limits_are_invalid_blocks(client, server, blocks, pointer):
    refused = error_of(lambda: post(client, "fallback", blocks=blocks)).response
    assert refused["error"] == "invalid_blocks"
    assert any(p.endswith(pointer) for p in refused["errors"]), refused["errors"]
    assert server.posts == []
    assert post(client, "fallback")["ok"]  # the plain-text version goes through


def test_blocks_that_are_not_a_list_are_invalid_blocks_format(client):
    assert error_of(lambda: client.api_call("chat.postMessage", json={
        "channel": "C0DEMO", "text": "x", "blocks": {"type": "divider"}})).response["error"] == "invalid_blocks_format"


def test_a_bad_token_is_invalid_auth_everywhere(server):
    wrong = WebClient(token="xoxb-wrong", base_url=server.base_url)
    assert error_of(lambda: post(wrong)).response["error"] == "invalid_auth"
    assert error_of(lambda: history(wrong)).response["error"] == "invalid_auth"
    assert error_of(lambda: wrong.conversations_replies(channel="C0DEMO", ts="1.000001")
                    ).response["error"] == "invalid_auth"
    assert server.posts == []


def test_a_token_sent_as_a_form_argument_is_accepted_and_never_kept(server, tmp_path, capsys):
    server.record_to = tmp_path / "inbox.jsonl"
    anonymous = WebClient(base_url=server.base_url)  # no Authorization header: the token travels in the form
    assert anonymous.api_call("chat.postMessage", params={"token": TOKEN, "channel": "C0DEMO", "text": "hi"})["ok"]
    assert error_of(lambda: anonymous.api_call("chat.postMessage", params={
        "token": "xoxb-wrong", "channel": "C0DEMO", "text": "hi"})).response["error"] == "invalid_auth"
    assert "token" not in server.posts[0]
    assert TOKEN not in server.record_to.read_text()
    captured = capsys.readouterr()
    assert TOKEN not in captured.err + captured.out and "POST" not in captured.err  # requests are never logged


# -- conversations.history ----------------------------------------------------------------------------------------


def test_history_takes_the_channel_id_not_its_name(client):
    post(client)
    for name in ("#alerts", "alerts", "C0OTHER"):
        refused = error_of(lambda: client.conversations_history(channel=name)).response
        assert refused["error"] == "channel_not_found"


def test_oldest_and_latest_are_exclusive_unless_inclusive(client):
    ts = [post(client, f"m{i}")["ts"] for i in range(5)]
    assert texts(history(client)) == ["m4", "m3", "m2", "m1", "m0"]  # newest first
    assert texts(history(client, oldest=ts[1], latest=ts[3])) == ["m2"]
    assert texts(history(client, oldest=ts[1], latest=ts[3], inclusive=True)) == ["m3", "m2", "m1"]
    assert texts(history(client, oldest=ts[3])) == ["m4"]
    assert texts(history(client, latest=ts[1])) == ["m0"]
    assert texts(history(client, latest=ts[1], inclusive=True)) == ["m1", "m0"]
    assert error_of(lambda: history(client, oldest="yesterday")).response["error"] == "invalid_ts_oldest"


def test_limit_and_cursor_page_through_the_history(client):
    for i in range(5):
        post(client, f"m{i}")
    first = history(client, limit=2)
    assert texts(first) == ["m4", "m3"] and first["has_more"]
    second = history(client, limit=2, cursor=first["response_metadata"]["next_cursor"])
    assert texts(second) == ["m2", "m1"] and second["has_more"]
    third = history(client, limit=2, cursor=second["response_metadata"]["next_cursor"])
    assert texts(third) == ["m0"] and not third["has_more"] and third["response_metadata"]["next_cursor"] == ""
    # slack-sdk's own paging follows next_cursor
    pages = [texts(page) for page in client.conversations_history(channel="C0DEMO", limit=2)]
    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"]]
    # a cursor stays put when newer messages arrive
    post(client, "m5")
    assert texts(history(client, limit=2, cursor=first["response_metadata"]["next_cursor"])) == ["m2", "m1"]
    bad = base64.b64encode(b"offset:3").decode()
    assert error_of(lambda: history(client, cursor=bad)).response["error"] == "invalid_cursor"


def test_limit_is_100_by_default_and_at_most_999(client, server):
    for i in range(1000):
        server.receive({"channel": "C0DEMO", "text": f"m{i}", "path": "chat.postMessage"})
    default = history(client)
    assert len(default["messages"]) == 100 and default["has_more"] and default["messages"][0]["text"] == "m999"
    capped = history(client, limit=5000)
    assert len(capped["messages"]) == 999 and capped["has_more"]


def test_thread_replies_are_not_in_the_history_but_in_conversations_replies(client):
    parent = post(client, "parent", metadata=META)
    reply = post(client, "reply", thread_ts=parent["ts"],
                 metadata={"event_type": "afkit_alert", "event_payload": {"n": "reply"}})
    broadcast = post(client, "broadcast", thread_ts=parent["ts"], reply_broadcast=True)
    post(client, "after")
    top = history(client)
    assert texts(top) == ["after", "broadcast", "parent"]
    listed_parent = top["messages"][2]
    assert listed_parent["thread_ts"] == parent["ts"] and listed_parent["reply_count"] == 2
    assert top["messages"][1]["thread_ts"] == parent["ts"]  # a broadcast reply: in the channel, and in its thread
    assert "thread_ts" not in top["messages"][0]

    thread = client.conversations_replies(channel="C0DEMO", ts=parent["ts"], include_all_metadata=True).data
    assert [(m["text"], m["ts"]) for m in thread["messages"]] == [
        ("parent", parent["ts"]), ("reply", reply["ts"]), ("broadcast", broadcast["ts"])]  # oldest first
    assert thread["messages"][1]["thread_ts"] == parent["ts"]
    assert thread["messages"][1]["metadata"] == {"event_type": "afkit_alert", "event_payload": {"n": "reply"}}
    # looked up by a reply's ts, from a time, a page at a time
    later = client.conversations_replies(channel="C0DEMO", ts=reply["ts"], oldest=parent["ts"], limit=1).data
    assert texts(later) == ["reply"] and later["has_more"] and "metadata" not in later["messages"][0]
    rest = client.conversations_replies(channel="C0DEMO", ts=parent["ts"], oldest=parent["ts"], limit=1,
                                        cursor=later["response_metadata"]["next_cursor"]).data
    assert texts(rest) == ["broadcast"] and not rest["has_more"]
    assert error_of(lambda: client.conversations_replies(channel="C0DEMO", ts="1.000001")
                    ).response["error"] == "thread_not_found"
    assert error_of(lambda: client.conversations_replies(channel="#alerts", ts=parent["ts"])
                    ).response["error"] == "channel_not_found"


def test_history_answers_get_with_a_query_string_too(server, client):
    post(client, "got", metadata=META)

    def get(path: str, token: str = TOKEN) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}{path}",
                                         headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    status, page = get("/api/conversations.history?channel=C0DEMO&include_all_metadata=true&limit=1")
    assert status == 200 and page["ok"] and texts(page) == ["got"] and page["messages"][0]["metadata"] == META
    assert get("/api/conversations.history?channel=C0DEMO", token="xoxb-wrong")[1]["error"] == "invalid_auth"
    assert get("/api/chat.unknownThing") == (404, {"ok": False, "error": "unknown_method"})


def test_conversations_list_names_the_channel(client):
    (channel,) = client.conversations_list()["channels"]
    assert (channel["id"], channel["name"]) == ("C0DEMO", "alerts")


# -- the webhook --------------------------------------------------------------------------------------------------


def test_the_webhook_answers_ok_or_slacks_errors(server):
    hook = WebhookClient(server.webhook_url)
    sent = hook.send(text="via webhook", blocks=[section("hello")])
    assert (sent.status_code, sent.body) == (200, "ok")
    bad = hook.send(text="fallback", blocks=[header(151)])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    empty = hook.send(text="")
    assert (empty.status_code, empty.body) == (400, "no_text")
    request = urllib.request.Request(server.webhook_url, data=b"{not json",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert (caught.value.code, caught.value.read()) == (400, b"invalid_payload")
    assert [(p["path"], p["text"]) for p in server.posts] == [("webhook", "via webhook")]


def test_webhook_messages_are_in_the_channels_history(server, client):
    WebhookClient(server.webhook_url).send(text="hooked")
    (message,) = history(client)["messages"]
    assert (message["text"], message["subtype"]) == ("hooked", "bot_message")


# -- canned answers -----------------------------------------------------------------------------------------------


def test_one_method_can_be_made_to_fail_without_the_others(client, server):
    server.script_for("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    server.script_for("chat.postMessage", 500, {"ok": False, "error": "internal_error"})
    server.script_for("chat.postMessage", 200, {"ok": False, "error": "invalid_blocks"})
    limited = error_of(lambda: post(client)).response
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert history(client)["messages"] == []  # history is not affected
    assert error_of(lambda: post(client)).response.status_code == 500
    assert error_of(lambda: post(client)).response["error"] == "invalid_blocks"
    assert server.posts == []
    assert post(client, "at last")["ok"] and texts(history(client)) == ["at last"]


def test_the_webhook_can_be_scripted_and_script_still_serves_any_method(client, server):
    server.script_for("webhook", 404, "channel_not_found")
    hook = WebhookClient(server.webhook_url)
    refused = hook.send(text="x")
    assert (refused.status_code, refused.body) == (404, "channel_not_found")
    server.script = [(503, {"ok": False, "error": "service_unavailable"}, {})]
    assert error_of(lambda: history(client)).response.status_code == 503
    assert hook.send(text="x").status_code == 200 and history(client)["ok"]


def test_concurrent_posts_are_all_kept_with_distinct_ts(server):
    def send(i: int) -> None:
        post(WebClient(token=TOKEN, base_url=server.base_url), f"m{i}")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.posts) == 20 and len({p["ts"] for p in server.posts}) == 20
