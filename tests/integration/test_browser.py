"""The afkit page in a real browser: headless Chromium (Debian's package, driven by Playwright) logs into the suite's
Airflow, which runs the demo DAGs, opens the page through Airflow's own UI route for the plugin, and finds a late SLA
and the active backfill; in dark mode the page follows Airflow's theme. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import re
import shutil

import pytest

from .conftest import ARTIFACTS, raw_get

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# What the environment guide says Chromium needs on these machines: no sandbox as root, no background networking.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (./dev test installs Debian's package when it runs as root with "
                    "apt-get; here it could not)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def log_in(browser, airflow, color_scheme: str, user: tuple[str, str] | None = None):
    username, password = user or airflow.admin
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=color_scheme)
    page = context.new_page()
    page.goto(f"{airflow.url}/auth/login?next=/plugin/afkit")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/plugin/afkit", timeout=60_000)
    return context, page


def afkit_frame(page):
    """Airflow's UI shows the plugin's external view in an iframe pointing at the plugin's page."""
    page.wait_for_selector("iframe[src*='/afkit/ui/']", timeout=60_000)
    frame = page.frame_locator("iframe[src*='/afkit/ui/']")
    frame.locator("body[data-loaded=true]").wait_for(timeout=60_000)
    return frame


def test_the_page_inside_airflow_shows_the_late_sla_and_the_active_backfill(airflow, browser, paused_backfill):
    # test.stale never gets an event: it is late seconds after it appears, and stays late.
    assert any(s["asset"] == "test.stale" and s["status"] == "late"
               for s in raw_get(airflow, "/afkit/api/v1/sla")["slas"])
    context, page = log_in(browser, airflow, "light")
    try:
        frame = afkit_frame(page)
        assert frame.locator("#sla-rows tr[data-asset='test.stale'][data-status=late]").count() == 1
        late_rows = frame.locator("#sla-rows tr[data-status=late]").count()
        assert late_rows >= 1 and frame.locator("#count-late").inner_text() == str(late_rows)
        row = frame.locator(f"#backfill-rows tr[data-backfill='{paused_backfill}']")
        text = row.inner_text()
        assert "afkit_bulk" in text and "paused" in text and re.search(r"\b[0-3]/3 done", text), text
        assert frame.locator("#pool-rows tr[data-pool=default_pool]").count() == 1
        assert frame.locator("#problem").is_hidden()  # every request was authorised
        # One time convention: UTC, 24-hour, labelled, in the header as in the tables.
        assert re.fullmatch(r"refreshed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", frame.locator("#refreshed").inner_text())
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC … \d{4}-\d\d-\d\d \d\d:\d\d UTC", text), text
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "afkit-page-light.png"), full_page=True)
        print(f"\nscreenshot: {ARTIFACTS / 'afkit-page-light.png'}")

        row.locator("button[data-action=resume]").click()  # the page's own action, with the admin's permission
        frame.locator(f"#backfill-rows tr[data-backfill='{paused_backfill}'] button[data-action=pause]").wait_for(
            timeout=30_000)
        assert raw_get(airflow, f"/api/v2/backfills/{paused_backfill}")["is_paused"] is False
    finally:
        context.close()


def test_a_viewer_sees_no_pause_or_resume_button_only_that_the_backfill_is_view_only(airflow, browser,
                                                                                       paused_backfill):
    context, page = log_in(browser, airflow, "light", ("viewer", airflow.passwords["viewer"]))
    try:
        frame = afkit_frame(page)
        row = frame.locator(f"#backfill-rows tr[data-backfill='{paused_backfill}']")
        assert "afkit_bulk" in row.inner_text()
        assert row.locator("button").count() == 0 and frame.locator("#backfill-rows button").count() == 0
        assert "view only" in row.inner_text()
        assert frame.locator("#problem").is_hidden()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "afkit-page-viewer.png"), full_page=True)
    finally:
        context.close()


def test_the_page_follows_airflows_dark_mode(airflow, browser):
    context, page = log_in(browser, airflow, "dark")
    try:
        frame = afkit_frame(page)
        assert "dark" in (page.locator("html").get_attribute("class") or "")  # Airflow itself is dark …
        assert "dark" in (frame.locator("html").get_attribute("class") or "")  # … and so is the page
        background = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
        red, green, blue = (int(v) for v in background[background.index("(") + 1:-1].split(",")[:3])
        assert max(red, green, blue) < 60, background
        page.screenshot(path=str(ARTIFACTS / "afkit-page-dark.png"), full_page=True)
    finally:
        context.close()
