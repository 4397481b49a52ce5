"""Loading the plugin never raises, even when its API cannot be built (that would take the api-server down)."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("airflow", reason="the plugin needs apache-airflow (the 'airflow' extra)")

from toolkit import plugin  # noqa: E402
from toolkit.plugin import app as plugin_app  # noqa: E402


def test_plugin_builds_its_app_under_afkit():
    apps = plugin._fastapi_apps()
    assert [(a["name"], a["url_prefix"]) for a in apps] == [("afkit", "/afkit")]
    assert any(route.path == "/api/v1/health" for route in apps[0]["app"].routes)


def test_a_failing_app_is_logged_and_the_plugin_still_loads(monkeypatch, caplog):
    def broken() -> None:
        raise RuntimeError("simulated failure while building the app")

    monkeypatch.setattr(plugin_app, "create_app", broken)
    with caplog.at_level(logging.ERROR, logger="toolkit.plugin"):
        assert plugin._fastapi_apps() == []
    assert "Airflow continues without it" in caplog.text
    assert "simulated failure" in caplog.text
