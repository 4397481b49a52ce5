"""A plan file cannot bypass the policy: every launch is re-admitted against today's pools and policy, and a plan file
changed after afkit wrote it launches only if planning it again gives the same thing.

Own DAGs (tests/dags/afkit_test_status.py) and own pool ``tight``; DAGs stay paused so runs stay queued and the
backfills stay inspectable, then are cancelled.
"""

from __future__ import annotations

import json

import pytest

from toolkit.devserver import demo
from toolkit.errors import ExitCode

from .conftest import raw_get, raw_send, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def env(admin_env, client, tmp_path) -> dict[str, str]:
    demo.wait_for_dags(client, ("afkit_policy_free", "afkit_policy_tight"))
    for dag_id in ("afkit_policy_free", "afkit_policy_tight"):
        client.dags.set_paused(dag_id, True)
    config = tmp_path / "afkit.toml"
    config.write_text("[pools.tight]\nreserve = 1\n")
    return {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}", "AFKIT_CONFIG": str(config)}


def backfills_of(airflow, dag_id: str) -> list[dict]:
    return raw_get(airflow, f"/api/v2/backfills?dag_id={dag_id}&limit=100")["backfills"]


def cancel_active(airflow, dag_id: str) -> None:
    for b in backfills_of(airflow, dag_id):
        if b["completed_at"] is None:
            raw_send(airflow, "PUT", f"/api/v2/backfills/{b['id']}/cancel")


def test_a_plan_file_edited_to_another_dag_is_refused_and_a_harmless_edit_re_validates(airflow, env, client,
                                                                                          tmp_path):
    client.pools.ensure("tight", 2, "the plan-policy tests' pool")
    plan_file = tmp_path / "plan.json"
    planned = run_cli(["backfill", "plan", "afkit_policy_free", "--from", "2026-08-01", "--to", "2026-08-03",
                       "--max-active-runs", "10", "-o", str(plan_file)], env=env)
    assert planned.exit_code == ExitCode.OK, planned.output + planned.stderr
    edited = tmp_path / "edited.json"
    edited.write_text(plan_file.read_text().replace("afkit_policy_free", "afkit_policy_tight"))
    refused = run_cli(["backfill", "launch", str(edited), "--yes"], env=env)
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output + refused.stderr
    assert "was changed after afkit wrote it" in refused.stderr
    assert "does not belong to its steps and options" in refused.stderr  # the DAG is part of what the id names
    assert "Traceback" not in refused.output + refused.stderr
    assert backfills_of(airflow, "afkit_policy_tight") == []

    harmless = tmp_path / "harmless.json"
    data = json.loads(plan_file.read_text())
    data["warnings"] = []  # the fingerprint no longer matches, but planning again gives the same plan
    harmless.write_text(json.dumps(data))
    try:
        launched = run_cli(["backfill", "launch", str(harmless), "--yes"], env=env)
        assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
        (created,) = backfills_of(airflow, "afkit_policy_free")
        assert created["max_active_runs"] == 10
        again = run_cli(["backfill", "launch", str(plan_file), "--yes"], env=env)  # the original, same plan id
        assert again.exit_code == ExitCode.OK, again.output + again.stderr
        assert "resuming launch of plan" in again.output and len(backfills_of(airflow, "afkit_policy_free")) == 1
    finally:
        cancel_active(airflow, "afkit_policy_free")


def test_an_edited_plan_that_no_longer_matches_airflow_is_refused_with_the_difference(airflow, env, client, tmp_path):
    plan_file = tmp_path / "plan.json"
    planned = run_cli(["backfill", "plan", "afkit_policy_free", "--from", "2026-08-05", "--to", "2026-08-07",
                       "-o", str(plan_file)], env=env)
    assert planned.exit_code == ExitCode.OK, planned.output + planned.stderr
    data = json.loads(plan_file.read_text())
    data["warnings"] = ["reviewed"]  # an edit: the plan must re-validate before it launches
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    raw_send(airflow, "POST", "/api/v2/dags/afkit_policy_free/dagRuns",  # meanwhile, a run for the 6th appears
             {"dag_run_id": "manual__policy_0806", "logical_date": "2026-08-06T00:00:00Z", "conf": {}})
    refused = run_cli(["backfill", "launch", str(edited), "--yes"], env=env)
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output + refused.stderr
    assert "was changed after afkit wrote it" in refused.stderr
    assert "afkit_policy_free's steps differ" in refused.stderr  # the 6th is in flight now: two steps
    assert [b for b in backfills_of(airflow, "afkit_policy_free") if b["from_date"].startswith("2026-08-05")] == []


def test_launch_re_admits_the_plan_against_todays_pools(airflow, env, client, tmp_path):
    client.pools.ensure("tight", 4, "the plan-policy tests' pool")
    plan_file = tmp_path / "plan.json"
    planned = run_cli(["backfill", "plan", "afkit_policy_tight", "--from", "2026-08-10", "--to", "2026-08-15",
                       "-o", str(plan_file)], env=env)
    assert planned.exit_code == ExitCode.OK, planned.output + planned.stderr
    assert json.loads(plan_file.read_text())["dags"][0]["concurrency"] == 3  # 4 slots, 1 reserved
    client.pools.ensure("tight", 2, "the plan-policy tests' pool")  # the pool shrank after planning
    try:
        launched = run_cli(["backfill", "launch", str(plan_file), "--yes"], env=env)
        assert launched.exit_code == ExitCode.OK, launched.output + launched.stderr
        assert "afkit_policy_tight: 3 run(s) at a time lowered to 1" in launched.output
        (created,) = backfills_of(airflow, "afkit_policy_tight")
        assert created["max_active_runs"] == 1
    finally:
        cancel_active(airflow, "afkit_policy_tight")

    replanned = tmp_path / "replanned.json"
    client.pools.ensure("tight", 4, "the plan-policy tests' pool")
    assert run_cli(["backfill", "plan", "afkit_policy_tight", "--from", "2026-08-20", "--to", "2026-08-21",
                    "-o", str(replanned)], env=env).exit_code == ExitCode.OK
    (tmp_path / "afkit.toml").write_text("[pools.tight]\nreserve = '100%'\n")  # the policy tightened after planning
    refused = run_cli(["backfill", "launch", str(replanned), "--yes"], env=env)
    assert refused.exit_code == ExitCode.BAD_INPUT, refused.output + refused.stderr
    assert "no pool budget left for afkit_policy_tight" in refused.stderr
    assert len(backfills_of(airflow, "afkit_policy_tight")) == 1  # only the first, cancelled one
