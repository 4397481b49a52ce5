"""The pictures' endpoints on a metadata database made from Airflow's own models (SQLite, in memory): what each answers
and refuses. Who may call them is Airflow's decision, tested on a real Airflow (tests/integration/test_plugin_page.py
and test_page_pictures.py); here the routes' permission dependencies are stood in for, the handlers are real."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

pytest.importorskip("airflow", reason="the plugin needs apache-airflow (the 'airflow' extra)")

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402
from sqlalchemy.pool import StaticPool  # noqa: E402

from toolkit.sla import deadline, max_lag, with_slas  # noqa: E402

UTC = timezone.utc
H, M = timedelta(hours=1), timedelta(minutes=1)
NOW = datetime.now(UTC).replace(microsecond=0)
ASSET = "mart.pictures"
DAG = "pictures_producer"


@pytest.fixture(scope="module")
def database():
    from airflow.models import import_all_models
    from airflow.models.base import Base

    import_all_models()
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    Base.metadata.create_all(engine)
    make = sessionmaker(engine, expire_on_commit=False)
    with make() as session:
        fill(session)
        session.commit()
    yield make
    engine.dispose()


def fill(session) -> None:
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel, TaskOutletAssetReference
    from airflow.models.backfill import Backfill
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun

    extra = with_slas({"owner": "t"}, max_lag(warn_after="2h", fail_after="3h", owners=["#t"]),
                      deadline("0 * * * *", "UTC", max_age="2h", owners=["#t"]))
    session.add(DagModel(dag_id=DAG, bundle_name="dags-folder", is_paused=False, max_active_tasks=16,
                         max_consecutive_failed_dag_runs=0, has_task_concurrency_limits=False))
    for name, uri, extra_of in ((ASSET, "mart.pictures", extra), ("other", "other", {})):
        asset = AssetModel(name=name, uri=uri, group="asset", extra=extra_of)
        asset.created_at = NOW - 30 * H
        session.add(asset)
        session.flush()
        session.add(AssetActive(name=name, uri=uri))
    mine = session.query(AssetModel).filter_by(name=ASSET).one()
    session.add(TaskOutletAssetReference(asset_id=mine.id, dag_id=DAG, task_id="produce"))
    # every 30 minutes for 10 hours, nothing for 5 hours, then every 10 minutes
    moments = [NOW - 20 * H + 30 * M * i for i in range(21)] + [NOW - 5 * H + 10 * M * i for i in range(30)]
    for moment in moments:
        session.add(AssetEvent(asset_id=mine.id, timestamp=moment, extra={}))
    session.add(AssetEvent(asset_id=mine.id, timestamp=NOW - 30 * H, extra={}))  # before the window
    backfill = Backfill(dag_id=DAG, from_date=datetime(2026, 3, 1, tzinfo=UTC), to_date=datetime(2026, 3, 4, tzinfo=UTC),
                        dag_run_conf={"afkit": {"plan_id": "p1"}}, max_active_runs=1)
    backfill.created_at = NOW - H
    session.add(backfill)
    session.flush()
    states = ["success", "success", "failed", "running", "queued"]
    for day, state in enumerate(states, start=1):
        logical = datetime(2026, 3, day, tzinfo=UTC)
        run = DagRun(dag_id=DAG, run_id=f"backfill__{logical.isoformat()}", run_type="backfill", logical_date=logical,
                     run_after=logical, state=state, start_date=NOW - H + 10 * M * day if state != "queued" else None)
        run.backfill_id = backfill.id
        if state in ("success", "failed"):
            run.end_date = NOW - H + 10 * M * day + 5 * M
        session.add(run)
    scheduled = DagRun(dag_id=DAG, run_id="scheduled__2026-12-01", run_type="scheduled",
                       logical_date=datetime(2026, 12, 1, tzinfo=UTC), run_after=datetime(2026, 12, 1, tzinfo=UTC),
                       state="success")
    session.add(scheduled)


@pytest.fixture(scope="module")
def client(database):
    from airflow.api_fastapi.common.db.common import _get_session
    from fastapi.testclient import TestClient

    from toolkit.plugin.app import create_app

    app = create_app()
    for route in app.routes:  # the permission checks are Airflow's (integration tests); the handlers are ours
        for dependency in getattr(route, "dependencies", []):
            app.dependency_overrides[dependency.dependency] = lambda: None

    def session():
        with database() as s:
            yield s

    app.dependency_overrides[_get_session] = session
    with TestClient(app) as test_client:
        yield test_client


def get(client, path: str, **params):
    query = urlencode(params, doseq=True)
    return client.get(f"/api/v1/{path}" + (f"?{query}" if query else ""))


def test_a_timeline_has_the_windows_events_as_ticks_and_each_slas_breach(client):
    # the window ends at this module's NOW, not at the clock: the history is written relative to NOW, and under
    # pytest-xdist this test may run many minutes after the module was imported
    answer = get(client, "timelines", asset=[ASSET, "not.there"], hours=24, end=NOW.isoformat())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["missing"] == ["not.there"]
    (found,) = body["timelines"]
    assert datetime.fromisoformat(found["end"]) - datetime.fromisoformat(found["start"]) == 24 * H
    assert len(found["events"]) == 51  # the event 30 h ago is before the window
    lag, hourly = found["slas"]
    assert (lag["kind"], hourly["kind"]) == ("max_lag", "deadline")
    # the event 30 h ago is no tick, but says the asset was late already when the window began
    assert [(datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"])) for b in lag["breaches"]] == [
        (datetime.fromisoformat(found["start"]), NOW - 20 * H), (NOW - 10 * H + 3 * H, NOW - 5 * H)]
    assert len(hourly["deadlines"]) == 24 and len(hourly["breaches"]) == 2
    assert lag["status"] == "fresh" and lag["lag_seconds"] == pytest.approx(600, abs=60)


def test_a_given_window_is_answered_exactly_and_a_bad_one_refused_by_name(client):
    start, end = NOW - 6 * H, NOW - 4 * H
    (found,) = get(client, "timelines", asset=ASSET, start=start.isoformat(), end=end.isoformat()).json()["timelines"]
    assert (found["start"], found["end"]) == (start.isoformat(), end.isoformat())
    assert [e["timestamp"] for e in found["events"]] == [(NOW - 5 * H + 10 * M * i).isoformat() for i in range(7)]
    for params, detail in (({}, "name at least one asset (?asset=NAME)"),
                           ({"asset": ASSET, "hours": 0}, "hours must be more than 0 and at most 168, not 0"),
                           ({"asset": ASSET, "start": "yesterday"}, "start must be an ISO 8601 instant, not 'yesterday'"),
                           ({"asset": ASSET, "start": NOW.isoformat(), "end": (NOW - H).isoformat()}, None),
                           ({"asset": [f"a{i}" for i in range(21)]}, "at most 20 assets per request, not 21")):
        refused = get(client, "timelines", **params)
        assert refused.status_code == 400, params
        assert detail is None or refused.json()["detail"] == detail


def test_a_backfills_progress_steps_at_each_runs_end_and_ends_at_its_done_count(client):
    from toolkit.plugin.pictures_db import DAG_BACKFILLS  # noqa: F401 - the module loads

    (listed,) = get(client, f"dags/{DAG}/overview").json()["backfills"]
    found = get(client, f"backfills/{listed['id']}/progress").json()
    assert (found["total"], found["success"], found["failed"], found["running"], found["queued"]) == (5, 2, 1, 1, 1)
    points = found["progress"]["points"]
    assert [p["done"] for p in points] == [0, 1, 2, 3, 3] and points[-1]["failed"] == 1
    assert datetime.fromisoformat(points[0]["at"]) == NOW - H
    assert [datetime.fromisoformat(p["at"]) for p in points[1:4]] == [NOW - H + 10 * M * d + 5 * M for d in (1, 2, 3)]
    assert found["afkit_plan"] == "p1" and found["completed_at"] is None
    assert get(client, "backfills/987654/progress").status_code == 404


def test_a_dags_view_has_its_assets_slas_its_backfills_and_its_runs_as_partitions(client):
    view = get(client, f"dags/{DAG}/overview").json()
    assert view["dag_id"] == DAG and view["assets"] == [ASSET]
    assert sorted(s["sla"] for s in view["slas"]) == ["deadline 0 * * * * UTC", "max lag 3h"]
    assert {s["asset"] for s in view["slas"]} == {ASSET} and all(s["status"] == "fresh" for s in view["slas"])
    (backfill,) = view["backfills"]
    assert backfill["progress"]["done"] == backfill["success"] + backfill["failed"] == 3
    partitions = view["partitions"]
    assert [p["state"] for p in partitions] == ["success", "success", "failed", "running", "queued", "success"]
    assert partitions[0]["key"] == "2026-03-01T00:00:00+00:00" and partitions[0]["backfill_id"] == backfill["id"]
    assert partitions[-1]["run_type"] == "scheduled" and partitions[-1]["backfill_id"] is None
    assert get(client, "dags/no_such_dag/overview").status_code == 404


def test_cadence_reports_can_carry_the_sparkline_the_page_draws(client):
    reports = get(client, "cadence", intervals="true", sparkline="true").json()
    mine = next(r for r in reports if r["asset"] == ASSET)
    line = mine["sparkline"]
    assert len(line["levels"]) == len(line["intervals_seconds"]) == min(60, len(mine["intervals_seconds"]))
    assert line["intervals_seconds"] == mine["intervals_seconds"][line["offset"]:]
    assert mine["change"]["kind"] == "faster"  # every 30 minutes, then every 10
    assert line["ends"][line["change_index"]] == mine["change"]["at"]
    assert "sparkline" not in get(client, "cadence", intervals="true").json()[0]
    refused = get(client, "cadence", sparkline="true", form="typed")
    assert refused.status_code == 400 and refused.json()["detail"] == "sparkline=true is for the dict form only"


def test_the_per_dag_view_is_served_and_registered_as_a_dag_tab(client):
    from toolkit.plugin import DAG_VIEW, EXTERNAL_VIEW, AfkitPlugin

    page = client.get("/ui/dag.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="dag.js"></script>' in page.text and "http://" not in page.text.replace(
        'xmlns="http://', "")
    for name in ("common.js", "pictures.js", "dag.js"):
        assert client.get(f"/ui/{name}").status_code == 200
    assert AfkitPlugin.external_views == [EXTERNAL_VIEW, DAG_VIEW]
    assert DAG_VIEW["destination"] == "dag" and DAG_VIEW["href"] == "/afkit/ui/dag.html?dag_id={DAG_ID}"
    assert DAG_VIEW["url_route"] != EXTERNAL_VIEW["url_route"]  # Airflow drops a view whose route is taken
