"""The cluster policy's answer for each task instance: backfill priority, and routing to the companion of a carved
pool — a fixed function of the run, so re-applying it (Airflow does, to running task instances too) moves nothing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from toolkit.plugin import policy


@pytest.fixture
def carving(tmp_path, monkeypatch):
    """An Airflow home whose afkit.toml carves ``warehouse``, with an importable airflow_local_settings."""
    (tmp_path / "afkit.toml").write_text("[pools.warehouse]\nreserve = 2\n[pools.etl]\nreserve = '25%'\n")
    monkeypatch.setenv("AFKIT_CONFIG", str(tmp_path / "afkit.toml"))
    monkeypatch.setattr(policy, "local_settings_importable", lambda: True)
    policy.carved_pools.cache_clear()
    yield tmp_path / "afkit.toml"
    policy.carved_pools.cache_clear()


def ti(pool: str, run_id: str = "backfill__2026-01-01T00:00:00+00:00"):
    return SimpleNamespace(pool=pool, run_id=run_id, priority_weight=1, task_id="t")


def run(run_type: str):
    return SimpleNamespace(run_type=SimpleNamespace(value=run_type))


def test_backfill_tasks_of_a_carved_pool_go_to_its_companion_and_stay_there(carving):
    assert policy.carved_pools() == frozenset({"warehouse", "etl"})
    task = ti("warehouse")
    policy.task_instance_mutation_hook(task, None)  # as TI.__init__ applies it: the run id says backfill
    assert (task.pool, task.priority_weight) == ("warehouse__afkit", -100)
    policy.task_instance_mutation_hook(task, run("backfill"))  # applied again with the run: nothing moves
    assert task.pool == "warehouse__afkit"


def test_production_and_uncarved_pools_are_left_alone(carving):
    production = ti("warehouse", "scheduled__2026-01-01T00:00:00+00:00")
    policy.task_instance_mutation_hook(production, run("scheduled"))
    assert (production.pool, production.priority_weight) == ("warehouse", 1)
    other = ti("default_pool")
    policy.task_instance_mutation_hook(other, run("backfill"))
    assert (other.pool, other.priority_weight) == ("default_pool", -100)


def test_a_broken_config_or_no_local_settings_carves_nothing_and_never_raises(carving, monkeypatch):
    carving.write_text("[pools.warehouse\n")
    policy.carved_pools.cache_clear()
    task = ti("warehouse")
    policy.task_instance_mutation_hook(task, run("backfill"))
    assert (task.pool, task.priority_weight) == ("warehouse", -100)
    carving.write_text("[pools.warehouse]\nreserve = 2\n")
    monkeypatch.setattr(policy, "local_settings_importable", lambda: False)
    policy.carved_pools.cache_clear()
    assert policy.carved_pools() == frozenset()
