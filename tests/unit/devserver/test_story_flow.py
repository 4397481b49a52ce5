"""The story's own flow (``toolkit.devserver.story.Story``) on an in-memory stand-in for Airflow: when the watcher
starts, and which alerts end the story. The story on a real Airflow is ``tests/integration/test_story.py``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from toolkit.devserver.story import CLOSE, DOWNSTREAM, UPSTREAM, Story
from toolkit.models import Asset, AssetEvent

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=timezone.utc)


class Assets:
    """The two story assets; the close's first event appears after ``ledger_after`` reads of it."""

    def __init__(self, ledger_after: int) -> None:
        self.ledger_after, self.ledger_reads = ledger_after, 0

    def list(self) -> list[Asset]:
        return [Asset(UPSTREAM, UPSTREAM, id=1), Asset(DOWNSTREAM, DOWNSTREAM, id=2)]

    def events(self, asset_id: int, limit: int) -> list[AssetEvent]:
        if asset_id != 2:
            return []
        self.ledger_reads += 1
        return [AssetEvent(DOWNSTREAM, NOW, source_dag_id=CLOSE)] if self.ledger_reads > self.ledger_after else []


class Watcher:
    def __init__(self, assets: Assets) -> None:
        self.assets, self.started_after_reads, self.home = assets, None, Path("story-home")
        self.log = self.home / "afkit-watch.log"

    def start(self) -> None:
        self.started_after_reads = self.assets.ledger_reads

    def supervise(self) -> None:
        return None


def story_on(assets: Assets, posts: list[dict], tick=list) -> tuple[Story, Watcher]:
    client = SimpleNamespace(
        assets=assets,
        variables=SimpleNamespace(set=lambda *args: None),
        dags=SimpleNamespace(list=lambda: [SimpleNamespace(dag_id=d) for d in ("stripe_ingest", CLOSE)],
                             set_paused=lambda dag_id, paused: None))
    watcher = Watcher(assets)
    story = Story(client, SimpleNamespace(posts=posts), watcher, scale=90, ui_url="http://story", tick=tick, poll=0)
    return story, watcher


def test_the_watcher_starts_once_the_close_has_written_its_first_ledger():
    """Before that, the close's SLA counts from when the asset appeared: Airflow's start-up alone can make it late."""
    assets = Assets(ledger_after=3)
    story, watcher = story_on(assets, [])
    beats = list(story._setup())
    assert watcher.started_after_reads == 4  # the fourth read found the first ledger event
    assert "afkit watch now runs" in beats[-1].text


def test_an_alert_from_before_the_switch_does_not_end_the_story(monkeypatch):
    """A late alert already in the inbox when the Variable changed is shown, but the story goes on until the cadence
    alert and a late alert that came after the switch."""
    late = {"text": f"LATE: {DOWNSTREAM} — no qualifying event since the asset appeared"}
    coming = [{"text": f"Cadence change: {UPSTREAM} moved"}, {"text": f"AT RISK: {DOWNSTREAM} — lag"},
              {"text": f"LATE: {DOWNSTREAM} — last update 61m ago"}]
    posts = [late]

    def next_post() -> list[str]:
        if coming:
            posts.append(coming.pop(0))
        return []

    story, _ = story_on(Assets(ledger_after=0), posts, tick=next_post)
    monkeypatch.setattr(Story, "_changed_report", lambda self: SimpleNamespace(message="the seam"))
    list(story._switch())
    beats = list(story._after())
    shown = [b.data["post"]["text"] for b in beats if b.kind == "message"]
    assert shown == [late["text"], *(p["text"] for p in posts[1:])] and len(shown) == 4
    told = [i for i, b in enumerate(beats) if b.kind == "step" and "SLA is late" in b.text]
    last = next(i for i, b in enumerate(beats) if b.kind == "message" and b.data["post"] is posts[3])
    assert told == [last - 1]  # told once, with the late alert that came after the switch
