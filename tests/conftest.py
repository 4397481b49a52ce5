"""Suite-wide settings: no test may read or write the real user's afkit profiles or configuration."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    for name in ("AFKIT_URL", "AFKIT_USERNAME", "AFKIT_PASSWORD", "AFKIT_TOKEN", "AFKIT_PROFILE", "AFKIT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


# How the suite is laid out on pytest-xdist's two workers (``./dev test`` runs ``-n 2 --dist loadgroup``). Most of an
# integration test's time is spent waiting on Airflow's scheduler, so two lanes overlap their waits:
# - the "suite" lane: every module on the suite's shared Airflow (booted once, on that worker only), and the demo
#   supervisor's module;
# - the "own" lane: the longest modules that boot an Airflow or a compose stack of their own, one after another.
# Measured on 2 cores: 1,434 s of test time in the own lane and 874 s in the suite lane, 25 min for the whole run
# (41 min in one process); the unit tests fill whichever lane is free.
OWN_LANE_MODULES = ("test_celery_ha", "test_compose_stack", "test_many_processes", "test_story")
SUITE_LANE, OWN_LANE = "suite", "own"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent.name == "integration":
            lane = OWN_LANE if item.path.stem in OWN_LANE_MODULES else SUITE_LANE
            item.add_marker(pytest.mark.xdist_group(lane))
