"""The afkit page's pictures in a real browser, on the suite's real Airflow, checked against the data they draw.

The module gives itself its own DAG (``afkit_pictures``, written into the suite's DAG folder, removed after) and its
asset ``test.pictures`` with two SLAs (a 3-hour max lag, an hourly deadline with a 2-hour max age), a history it
knows exactly, and a backfill it holds still:

- the history: real asset events, recorded in Airflow's database with the instants the test chose (Airflow's REST
  API stamps an event "now"): every 30 minutes for 10 hours, nothing for 5 hours, then every 10 minutes until 10
  minutes ago. So the max-lag SLA was late from 3 hours after the last slow event until the first fast one, the
  deadline SLA from the first hourly deadline more than 2 hours after it until then, and the cadence moved from 30
  to 10 minutes;
- a backfill of four days run one at a time, whose third day waits on a sensor deferred until 2099: two runs done,
  one running, one queued, and nothing moves while the test looks.

Headless Chromium (Debian's package, driven by Playwright, as in test_browser.py) then opens the page inside Airflow's
UI and the DAG's own afkit tab, and the test counts what is drawn: one tick per event of the window the API returned,
the breach rectangles over the windows the core computed (and that the history implies), one sparkline point per
interval with the change marker at the change's index, the progress line ending at the backfill's done count, one
partition cell per run. Light and dark screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from .conftest import ARTIFACTS, raw_get, raw_send, raw_token, wait_for
from .test_browser import afkit_frame, browser, log_in  # noqa: F401 - browser is a fixture
from .test_plugin_page import status_of

pytestmark = pytest.mark.integration

DAG_ID = "afkit_pictures"
ASSET = "test.pictures"
H, M = timedelta(hours=1), timedelta(minutes=1)
HELD_FROM = "2026-03-03"  # backfill runs from this day on wait for a sensor deferred until 2099
DAG_FILE = textwrap.dedent(f'''
    """The afkit page pictures test's own DAG (written by tests/integration/test_page_pictures.py, removed after)."""
    from datetime import datetime, timezone

    from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
    from airflow.sdk import DAG, Asset, task

    from toolkit.sla import deadline, max_lag, with_slas

    PICTURES = Asset(name="{ASSET}", extra=with_slas(
        {{"owner": "afkit-tests"}},
        max_lag(warn_after="2h", fail_after="3h", owners=["#tests"]),
        deadline("0 * * * *", "UTC", max_age="2h", owners=["#tests"]),
    ))

    # end_date in the past: the scheduler makes no run of its own; only the test's backfill runs it.
    with DAG(dag_id="{DAG_ID}", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
             end_date=datetime(2026, 6, 30, tzinfo=timezone.utc), catchup=False, tags=["afkit-test"]):
        hold = DateTimeSensorAsync(
            task_id="hold",
            target_time="{{{{ '2099-01-01T00:00:00+00:00' if ds >= '{HELD_FROM}' else '2000-01-01T00:00:00+00:00' }}}}")

        @task(outlets=[PICTURES])
        def produce() -> None:
            pass

        hold >> produce()
''')
# Records events with chosen instants, as Airflow's own code records an event (one row of asset_event each).
RECORD_EVENTS = """
import json, sys
from datetime import datetime
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session

asset_id, moments = int(sys.argv[1]), json.loads(sys.argv[2])
with create_session() as session:
    for moment in moments:
        session.add(AssetEvent(asset_id=asset_id, timestamp=datetime.fromisoformat(moment), extra={}))
"""


def api(airflow, path: str, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    return raw_get(airflow, path + (f"?{query}" if query else ""))


@pytest.fixture(scope="module")
def pictures(airflow):
    """The module's DAG, asset, history and held backfill; removed after (the DAG file, the backfill's runs)."""
    started = time.monotonic()
    dag_file = airflow.spec.dags_folder / "afkit_test_pictures.py"
    dag_file.write_text(DAG_FILE)
    backfill_id = None
    try:
        def parsed():
            assets = api(airflow, "/api/v2/assets", name_pattern=ASSET)["assets"]
            dags = api(airflow, "/api/v2/dags", dag_id_pattern=DAG_ID)["dags"]
            return [a for a in assets if a["name"] == ASSET] if any(d["dag_id"] == DAG_ID for d in dags) else None

        (asset,) = wait_for(parsed, 180, f"the dag-processor to parse {dag_file.name}")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        slow = [now - 20 * H + 30 * M * i for i in range(21)]  # the last one 10 hours ago
        fast = [now - 5 * H + 10 * M * i for i in range(30)]  # the last one 10 minutes ago
        done = subprocess.run([sys.executable, "-c", RECORD_EVENTS, str(asset["id"]),
                               json.dumps([m.isoformat() for m in slow + fast])],
                              env=airflow.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]

        raw_send(airflow, "PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        backfill_id = raw_send(airflow, "POST", "/api/v2/backfills", {
            "dag_id": DAG_ID, "from_date": "2026-03-01T00:00:00+00:00", "to_date": "2026-03-04T00:00:00+00:00",
            "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none", "max_active_runs": 1})["id"]

        def held():
            found = api(airflow, f"/afkit/api/v1/backfills/{backfill_id}/progress")
            if (found["success"], found["running"], found["queued"]) != (2, 1, 1):
                return None
            runs = api(airflow, f"/api/v2/dags/{DAG_ID}/dagRuns", run_type="backfill")["dag_runs"]
            (waiting,) = [r for r in runs if r["state"] == "running"]
            hold = raw_get(airflow, f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(waiting['dag_run_id'])}"
                                    f"/taskInstances/hold")
            return waiting if hold["state"] == "deferred" else None

        waiting = wait_for(held, 300, "two backfill runs done and the third one waiting on its deferred sensor")
        print(f"\npictures: DAG, history and held backfill #{backfill_id} ready in {time.monotonic() - started:.1f}s")
        yield {"now": now, "asset_id": asset["id"], "slow": slow, "fast": fast, "backfill_id": backfill_id,
               "waiting": waiting["dag_run_id"]}
    finally:
        cleanup = time.monotonic()
        if backfill_id is not None:
            try:
                raw_send(airflow, "PUT", f"/api/v2/backfills/{backfill_id}/cancel")
            finally:
                runs = api(airflow, f"/api/v2/dags/{DAG_ID}/dagRuns", run_type="backfill")["dag_runs"]
                for run in runs:
                    if run["state"] in ("running", "queued"):
                        raw_send(airflow, "PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/"
                                                   f"{urllib.parse.quote(run['dag_run_id'])}", {"state": "failed"})
        raw_send(airflow, "PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": True})
        dag_file.unlink(missing_ok=True)
        # Airflow retires the DAG's asset a while after its file is gone (the dag-processor's next pass): wait for it,
        # so that no later test of the shared Airflow reads the asset list while it changes under it
        wait_for(lambda: not [a for a in api(airflow, "/api/v2/assets", name_pattern=ASSET)["assets"]
                              if a["name"] == ASSET], 300, f"Airflow to retire {ASSET} after its DAG file was removed")
        print(f"\npictures: backfill cancelled, its runs failed, DAG paused and removed in {time.monotonic() - cleanup:.1f}s")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def expected_breaches(state) -> dict[str, list[tuple[datetime, datetime]]]:
    """What the history implies, worked out here without afkit: late 3 h after the last slow event until the first
    fast one; the hourly deadline missed from the first deadline more than 2 h after that event until then."""
    last_slow, first_fast = state["slow"][-1], state["fast"][0]
    first_missed = (last_slow + 2 * H).replace(minute=0, second=0) + H
    return {"max lag 3h": [(last_slow + 3 * H, first_fast)],
            "deadline 0 * * * * UTC": [(first_missed, first_fast)]}


def test_the_api_gives_the_pictures_of_the_history_the_test_made(airflow, pictures):
    """Without a browser: the JSON the page draws says what the history implies."""
    (found,) = api(airflow, "/afkit/api/v1/timelines", asset=ASSET, hours=24)["timelines"]
    airflow_events = api(airflow, "/api/v2/assets/events", asset_id=pictures["asset_id"], limit=1000,
                         timestamp_gte=found["start"], timestamp_lte=found["end"])["asset_events"]
    assert len(found["events"]) == len(airflow_events) == 21 + 30 + 2  # and the two backfill runs' events
    assert sum(e["from_backfill"] for e in found["events"]) == 2
    breaches = {t["sla"]: [(instant(b["start"]), instant(b["end"])) for b in t["breaches"]] for t in found["slas"]}
    assert breaches == expected_breaches(pictures)
    assert {t["sla"]: t["status"] for t in found["slas"]} == {"max lag 3h": "fresh", "deadline 0 * * * * UTC": "fresh"}

    (report,) = [r for r in api(airflow, "/afkit/api/v1/cadence", changed_only="true", sparkline="true")
                 if r["asset"] == ASSET]
    assert report["change"]["kind"] == "faster" and report["backfill_events_excluded"] == 2
    line = report["sparkline"]
    assert len(line["levels"]) == min(60, len(report["intervals_seconds"]))
    assert line["ends"][line["change_index"]] == report["change"]["at"]
    assert instant(report["change"]["at"]) in pictures["fast"]  # the new regime's first event is one of ours

    progress = api(airflow, f"/afkit/api/v1/backfills/{pictures['backfill_id']}/progress")
    assert progress["progress"]["done"] == progress["success"] + progress["failed"] == 2
    assert [p["done"] for p in progress["progress"]["points"]] == [0, 1, 2, 2]


def test_the_pictures_routes_need_airflow_authentication_and_a_viewer_may_read_them(airflow, pictures):
    viewer = raw_token(airflow, "viewer", airflow.passwords["viewer"])
    routes = [f"/afkit/api/v1/timelines?asset={ASSET}", f"/afkit/api/v1/backfills/{pictures['backfill_id']}/progress",
              f"/afkit/api/v1/dags/{DAG_ID}/overview", "/afkit/api/v1/cadence?sparkline=true",
              f"/afkit/ui/dag.html?dag_id={DAG_ID}", "/afkit/ui/dag.js", "/afkit/ui/pictures.js", "/afkit/ui/common.js"]
    for route in routes:
        assert status_of(airflow.url + route) == 401, route
        assert (status_of(airflow.url + route, token=viewer), status_of(airflow.url + route, cookie=viewer)) == (
            200, 200), route
    assert status_of(f"{airflow.url}/afkit/api/v1/backfills/987654/progress", token=viewer) == 404
    assert status_of(f"{airflow.url}/afkit/api/v1/dags/no_such_dag/overview", token=viewer) == 404
    views = [v for p in raw_get(airflow, "/api/v2/plugins")["plugins"] if p["name"] == "afkit"
             for v in p["external_views"]]
    assert [(v["url_route"], v["destination"], v["href"]) for v in views] == [
        ("afkit", "nav", "/afkit/ui/"), ("afkit-dag", "dag", "/afkit/ui/dag.html?dag_id={DAG_ID}")]


def geometry(locator) -> dict:
    return locator.evaluate("e => Object.fromEntries([...e.attributes].map(a => [a.name, a.value]))")


def show_pictures(browser, airflow, scheme: str):
    """Sign in, open the page inside Airflow's UI, and draw the module's asset's timeline (picked on the board)."""
    context, page = log_in(browser, airflow, scheme)
    page.set_viewport_size({"width": 1400, "height": 2000})
    frame = afkit_frame(page)
    frame.locator("#sla-filter").fill(ASSET)
    frame.locator(f"#sla-rows button[data-timeline='{ASSET}']").first.click()
    figure = frame.locator(f"#timeline-list figure[data-asset='{ASSET}'] svg.timeline")
    figure.wait_for(timeout=30_000)
    return context, page, frame, figure


def test_the_pages_pictures_draw_what_the_api_says(airflow, browser, pictures):
    started = time.monotonic()
    context, page, frame, svg = show_pictures(browser, airflow, "light")
    try:
        # -- the timeline: the window the page was answered, asked again, drawn tick for tick ----------------------
        drawn = geometry(svg)
        (answer,) = api(airflow, "/afkit/api/v1/timelines", asset=ASSET, start=drawn["data-start"],
                        end=drawn["data-end"])["timelines"]
        ticks = svg.locator("line.tick")
        assert ticks.count() == len(answer["events"]) == int(drawn["data-events"]) == 53
        assert svg.locator("line.tick.backfill").count() == 2
        assert [geometry(ticks.nth(i))["data-at"] for i in range(ticks.count())] == [
            e["timestamp"] for e in answer["events"]]
        t0, t1 = instant(drawn["data-start"]), instant(drawn["data-end"])
        left, width = float(drawn["data-plot-left"]), float(drawn["data-plot-width"])

        def x(moment: datetime) -> float:
            return left + (moment - t0) / (t1 - t0) * width

        expected = expected_breaches(pictures)
        for track in answer["slas"]:
            lane = svg.locator(f"g.lane[data-sla='{track['sla']}']")
            rects = lane.locator("rect.breach")
            assert rects.count() == len(track["breaches"]) == 1, track["sla"]
            rect = geometry(rects.first)
            (core,) = track["breaches"]
            assert (rect["data-start"], rect["data-end"]) == (core["start"], core["end"])  # the core's window …
            assert [(instant(rect["data-start"]), instant(rect["data-end"]))] == expected[track["sla"]]  # … as made
            assert float(rect["x"]) == pytest.approx(x(instant(core["start"])), abs=0.02)  # … where it is drawn
            assert float(rect["width"]) == pytest.approx(x(instant(core["end"])) - x(instant(core["start"])), abs=0.03)
            assert lane.locator("line.deadline").count() == len(track["deadlines"])
            assert geometry(lane)["data-status"] == track["status"]
        assert svg.locator("g.lane[data-sla='deadline 0 * * * * UTC'] line.deadline").count() == 24
        lag = geometry(svg.locator("g.lane[data-sla='max lag 3h'] line.lag"))
        assert lag["data-since"] == answer["slas"][0]["lag_since"]

        # -- the cadence sparkline: one point per interval, the change marked at its index -------------------------
        spark = frame.locator(f"#cadence-rows tr[data-asset='{ASSET}'] svg.sparkline")
        (report,) = [r for r in api(airflow, "/afkit/api/v1/cadence", changed_only="true", sparkline="true")
                     if r["asset"] == ASSET]
        line = report["sparkline"]
        assert spark.locator("circle.point").count() == len(line["levels"]) == int(geometry(spark)["data-points"])
        assert len(line["levels"]) == min(60, len(report["intervals_seconds"]))
        marker = geometry(spark.locator("line.change"))
        assert int(marker["data-index"]) == line["change_index"]
        point = geometry(spark.locator(f"circle.point[data-index='{line['change_index']}']"))
        assert point["data-end"] == report["change"]["at"] and float(point["cx"]) == float(marker["x1"])

        # -- the backfill's progress over time ends at its done count ----------------------------------------------
        backfill_id = pictures["backfill_id"]
        row = frame.locator(f"#backfill-rows tr[data-backfill='{backfill_id}']")
        assert "2/4 done" in row.inner_text()
        progress = row.locator("svg.progress")
        steps = progress.locator("circle.step")
        listed = next(b for b in api(airflow, "/afkit/api/v1/backfills") if b["id"] == backfill_id)
        assert int(geometry(progress)["data-done"]) == listed["success"] + listed["failed"] == 2
        assert int(geometry(steps.nth(steps.count() - 1))["data-done"]) == 2
        assert [int(geometry(steps.nth(i))["data-done"]) for i in range(steps.count())] == [0, 1, 2, 2]
        assert int(geometry(progress)["data-total"]) == listed["total"] == 4

        assert frame.locator("#problem").is_hidden()
        print(f"\nlight page checked in {time.monotonic() - started:.1f}s")
        frame.locator("#timelines").scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "afkit-pictures-light.png"))
        print(f"screenshot: {ARTIFACTS / 'afkit-pictures-light.png'}")
    finally:
        context.close()


def luminance(color: str) -> float:
    red, green, blue = (int(v) for v in re.findall(r"\d+", color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def test_the_pictures_are_readable_in_airflows_dark_mode(airflow, browser, pictures):
    context, page, frame, svg = show_pictures(browser, airflow, "dark")
    try:
        assert "dark" in (frame.locator("html").get_attribute("class") or "")
        style = "(e, p) => getComputedStyle(e).getPropertyValue(p)"
        frame_color = luminance(svg.locator("rect.frame").evaluate(style, "fill"))
        tick_color = luminance(svg.locator("line.tick").first.evaluate(style, "stroke"))
        assert frame_color < 60 and tick_color > 180  # light ticks on a dark panel
        breach = svg.locator("rect.breach").first.evaluate(style, "fill")
        late = frame.locator("html").evaluate("e => getComputedStyle(e).getPropertyValue('--late').trim()")
        assert breach.replace(" ", "") == "rgb(252,129,129)" and late == "#fc8181"  # the dark palette's red
        assert frame.locator(f"#cadence-rows tr[data-asset='{ASSET}'] svg.sparkline circle.point").count() > 0
        frame.locator("#timelines").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "afkit-pictures-dark.png"))
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dags_own_afkit_tab_shows_its_slas_backfills_and_partitions(airflow, browser, pictures, scheme):
    started = time.monotonic()
    context = browser.new_context(viewport={"width": 1400, "height": 1600}, color_scheme=scheme)
    page = context.new_page()
    try:
        # Signed in on Airflow's login page, straight to the DAG's afkit tab (as test_browser.log_in to the page).
        page.goto(f"{airflow.url}/auth/login?next=/dags/{DAG_ID}/plugin/afkit-dag")
        page.fill("input[name=username]", airflow.admin[0])
        page.fill("input[name=password]", airflow.admin[1])
        page.click("button[type=submit]")
        page.wait_for_url(f"**/dags/{DAG_ID}/plugin/afkit-dag", timeout=60_000)
        # Airflow's UI put the DAG's id in place of {DAG_ID} in the view's href
        page.wait_for_selector(f"iframe[src='/afkit/ui/dag.html?dag_id={DAG_ID}']", timeout=60_000)
        frame = page.frame_locator("iframe[src*='/afkit/ui/dag.html']")
        frame.locator("body[data-loaded=true]").wait_for(timeout=60_000)
        assert frame.locator("#problem").is_hidden()
        view = api(airflow, f"/afkit/api/v1/dags/{DAG_ID}/overview")
        assert view["assets"] == [ASSET] and frame.locator("#dag-id").inner_text() == DAG_ID

        rows = frame.locator("#dag-sla-rows tr[data-asset]")
        assert rows.count() == len(view["slas"]) == 2
        assert sorted(geometry(rows.nth(i))["data-status"] for i in range(2)) == ["fresh", "fresh"]

        (backfill,) = [b for b in view["backfills"] if b["id"] == pictures["backfill_id"]]
        progress = frame.locator(f"#dag-backfill-rows tr[data-backfill='{backfill['id']}'] svg.progress")
        assert int(geometry(progress)["data-done"]) == backfill["progress"]["done"] == 2

        cells = frame.locator("svg.partitions rect.partition")
        assert cells.count() == len(view["partitions"]) == 4
        assert [geometry(cells.nth(i))["data-state"] for i in range(4)] == [p["state"] for p in view["partitions"]] \
            == ["success", "success", "running", "queued"]
        assert [geometry(cells.nth(i))["data-key"][:10] for i in range(4)] == [
            "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]

        timeline = frame.locator(f"#dag-timelines figure[data-asset='{ASSET}'] svg.timeline")
        timeline.wait_for(timeout=30_000)
        assert timeline.locator("line.tick").count() == int(geometry(timeline)["data-events"]) == 53
        assert timeline.locator("rect.breach").count() == 2
        if scheme == "dark":
            assert "dark" in (frame.locator("html").get_attribute("class") or "")
        print(f"\nper-DAG view ({scheme}) checked in {time.monotonic() - started:.1f}s")
        ARTIFACTS.mkdir(exist_ok=True)
        name = "afkit-pictures-dag.png" if scheme == "light" else "afkit-pictures-dag-dark.png"
        page.screenshot(path=str(ARTIFACTS / name))
        print(f"screenshot: {ARTIFACTS / name}")
    finally:
        context.close()
