"""Bad inputs that need the real Airflow to be judged: each ends in one line naming the input and its exit code, and
nothing changes — not the backfills, pools or paused DAGs in Airflow, nor afkit's state database.

Its twin without Airflow is ``tests/unit/cli/test_bad_inputs.py``.
"""

from __future__ import annotations

import itertools

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import jwt
import pytest

from toolkit.airflow import AirflowClient
from toolkit.config import save_profile
from toolkit.devserver.launcher import RunningAirflow
from toolkit.state import StateStore

from .conftest import admin_settings, cancel_unless_completed, raw_get, raw_send, raw_token, run_cli


@dataclass
class World:
    airflow: RunningAirflow
    env: dict[str, str]
    home: Path
    values: dict[str, str] = field(default_factory=dict)  # filled in by a case's setup, used in its args

    def plan_file(self, name: str, *args: str) -> Path:
        """A real plan file of afkit_quick (May 2026 unless ``args`` say otherwise), as ``backfill plan -o`` writes."""
        path = self.home / name
        result = run_cli(["backfill", "plan", "afkit_quick", *(args or ("--from", "2026-05-01", "--to", "2026-05-03")),
                          "-o", str(path)], env=self.env)
        assert result.exit_code == 0, result.output
        return path


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    says: tuple[str, ...]
    env: dict[str, str | None] = field(default_factory=dict)
    setup: Callable[[World], None] | None = None
    marks: tuple = ()


def expired_copy(token: str, secret: str) -> str:
    """The claims Airflow issued, re-signed with its own secret, expired an hour ago."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    past = int(time.time()) - 3600
    claims.update(iat=past - 60, nbf=past - 60, exp=past)
    return jwt.encode(claims, secret, algorithm=header["alg"],
                      headers={"kid": header.get("kid")} if header.get("kid") else None)


def admin_profile(world: World) -> None:
    """A default profile with the admin's valid password: a bad explicit credential must not fall back to it."""
    save_profile(Path(world.env["XDG_CONFIG_HOME"]) / "afkit" / "profiles.toml", "ops",
                 {"url": world.airflow.url, "username": world.airflow.admin[0], "password": world.airflow.admin[1]},
                 make_default=True)


def expired_token(world: World) -> None:
    admin_profile(world)
    world.values["expired"] = expired_copy(raw_token(world.airflow, *world.airflow.admin),
                                           world.airflow.env["AIRFLOW__API_AUTH__JWT_SECRET"])


def edit_plan(change: Callable[[dict], None], name: str = "plan.json") -> Callable[[World], None]:
    def make(world: World) -> None:
        path = world.plan_file(name)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return make


def set_path(*keys: object, value: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


def edited_copy_with_anothers_id(world: World) -> None:
    """A copy edited to a shorter range that keeps the original's plan id (which once mixed two plans in the journal
    and ended in a KeyError): its id does not belong to its content, so it is refused before anything is journaled."""
    original = world.plan_file("original.json", "--from", "2026-05-10", "--to", "2026-05-12")
    edited = world.plan_file("plan.json", "--from", "2026-05-10", "--to", "2026-05-11")
    data = json.loads(edited.read_text())
    data["plan_id"] = json.loads(original.read_text())["plan_id"]
    edited.write_text(json.dumps(data))


_OCTOBER_DAYS = itertools.count(1)


def paused_backfill_of_bulk(world: World) -> None:
    """A paused backfill of a day of October no other case uses: a day an earlier case's backfill already created
    would give an empty backfill, which Airflow completes at once (and then refuses to cancel)."""
    day = f"2026-10-{next(_OCTOBER_DAYS):02d}T00:00:00Z"
    made = raw_send(world.airflow, "POST", "/api/v2/backfills", {
        "dag_id": "afkit_bulk", "from_date": day, "to_date": day,
        "run_backwards": False, "dag_run_conf": {}, "reprocess_behavior": "none", "max_active_runs": 1})
    raw_send(world.airflow, "PUT", f"/api/v2/backfills/{made['id']}/pause")
    world.values["backfill"] = str(made["id"])


VIEWER = {"AFKIT_USERNAME": "viewer", "AFKIT_PASSWORD": "{viewer}"}
PROFILE_ONLY = {"AFKIT_URL": None, "AFKIT_USERNAME": None, "AFKIT_PASSWORD": None}  # the profile gives them
QUICK = ["backfill", "plan", "afkit_quick"]
LAUNCH = ["backfill", "launch", "{home}/plan.json", "--yes"]

CASES = [
    # -- credentials: an explicit one is used as given, never replaced by the profile's -------------------------------
    Case("expired-token-flag", ["--token", "{expired}", "status"], 4, ("rejected the token", "expired"),
         env=PROFILE_ONLY, setup=expired_token),
    Case("expired-token-env", ["status"], 4, ("rejected the token",), env={**PROFILE_ONLY, "AFKIT_TOKEN": "{expired}"},
         setup=expired_token),
    Case("garbage-token-flag", ["--token", "not-a-jwt", "status"], 4, ("rejected the token",), env=PROFILE_ONLY,
         setup=admin_profile),
    Case("wrong-password-flag", ["--password", "wrong-password", "status"], 4, ("rejected", "--password"),
         env=PROFILE_ONLY, setup=admin_profile),
    Case("wrong-user-flag", ["--username", "nobody", "--password", "x", "status"], 4, ("'nobody'",),
         env=PROFILE_ONLY, setup=admin_profile),
    Case("expired-token-launch", ["--token", "{expired}", "backfill", "launch", "afkit_quick", "--from",
                                  "2026-05-20", "--to", "2026-05-21", "--yes"], 4, ("rejected the token",),
         env=PROFILE_ONLY, setup=expired_token),
    # -- names Airflow does not know ------------------------------------------------------------------------------------
    Case("plan-unknown-dag", ["backfill", "plan", "no_such_dag", "--from", "-2d"], 5, ("'no_such_dag'",)),
    Case("launch-unknown-dag", ["backfill", "launch", "no_such_dag", "--from", "-2d", "--yes"], 5,
         ("'no_such_dag'",)),
    Case("plan-unknown-downstream-dag", ["backfill", "plan", "afkit_quick", "no_such_dag", "--from", "2026-05-01",
                                         "--to", "2026-05-02"], 5, ("'no_such_dag'",)),
    Case("status-unknown-backfill", ["backfill", "status", "987654"], 5, ("987654",)),
    Case("pause-unknown-backfill", ["backfill", "pause", "987654"], 5, ("987654",)),
    Case("resume-unknown-backfill", ["backfill", "resume", "987654"], 5, ("987654",)),
    Case("cancel-unknown-backfill", ["backfill", "cancel", "987654"], 5, ("987654",)),
    Case("status-unknown-plan-id", ["backfill", "status", "nosuchplan"], 5, ("'nosuchplan'",)),
    Case("cancel-unknown-plan-id", ["backfill", "cancel", "deadbeef"], 5, ("'deadbeef'",)),
    Case("cadence-show-unknown-asset", ["cadence", "show", "no.such.asset"], 5, ("no.such.asset",)),
    Case("cadence-scan-unknown-asset", ["cadence", "scan", "--asset", "no.such.asset"], 5, ("no.such.asset",)),
    Case("sla-ack-unknown-alert", ["sla", "ack", "feedfacefeed"], 5, ("feedfacefeed",)),
    # -- plan options Airflow's state makes wrong -----------------------------------------------------------------------
    Case("reserve-unknown-pool", [*QUICK, "--from", "2026-05-01", "--to", "2026-05-02", "--reserve",
                                  "no_such_pool=1"], 2, ("no_such_pool",)),
    Case("reserve-larger-than-pool", [*QUICK, "--from", "2026-05-01", "--to", "2026-05-02", "--reserve",
                                      "default_pool=100000"], 2, ("default_pool",)),
    Case("range-before-dag-start", [*QUICK, "--from", "2025-01-01", "--to", "2025-01-05"], 2,
         ("before DAG 'afkit_quick' starts",)),
    Case("range-between-runs", [*QUICK, "--from", "2026-03-01T01:00:00Z", "--to", "2026-03-01T02:00:00Z"], 2,
         ("selects no runs",)),
    Case("partition-keys-of-a-daily-dag", [*QUICK, "--partitions", "eu,us", "--from", "2026-05-01", "--to",
                                           "2026-05-03"], 2, ("requested partition keys",)),
    # -- plan files: options given with one are refused by name; broken content is refused by field ------------------
    Case("plan-file-with-to", [*LAUNCH, "--to", "2026-05-09"], 2, ("--to cannot be used",),
         setup=lambda w: w.plan_file("plan.json")),
    Case("plan-file-with-max-active-runs", [*LAUNCH, "--max-active-runs", "9"], 2, ("--max-active-runs",),
         setup=lambda w: w.plan_file("plan.json")),
    Case("plan-file-with-reprocess-default", [*LAUNCH, "--reprocess", "none"], 2, ("--reprocess",),
         setup=lambda w: w.plan_file("plan.json")),
    Case("plan-file-upstream-junk", LAUNCH, 2, ("upstream",),
         setup=edit_plan(lambda d: d["dags"][0].__setitem__("upstream", [1, None, {"x": 1}]))),
    Case("plan-file-eta-nan", LAUNCH, 2, ("eta_p50",),
         setup=edit_plan(lambda d: d["dags"][0].__setitem__("eta_p50", float("nan")))),
    Case("plan-file-max-active-runs-zero", LAUNCH, 2, ("max_active_runs",),
         setup=edit_plan(set_path("options", "max_active_runs", value=0))),
    Case("plan-file-huge-plan-id", LAUNCH, 2, ("plan_id",), setup=edit_plan(set_path("plan_id", value="f" * 5000))),
    Case("plan-file-path-plan-id", LAUNCH, 2, ("plan_id",), setup=edit_plan(set_path("plan_id", value="../../etc"))),
    Case("plan-file-duplicate-dag", LAUNCH, 2, ("afkit_quick",),
         setup=edit_plan(lambda d: d["dags"].append(d["dags"][0]))),
    Case("plan-file-edited-copy-keeps-anothers-id", LAUNCH, 2, ("was changed after afkit wrote it",
                                                                 "does not belong to its steps"),
         setup=edited_copy_with_anothers_id),
    # -- permissions: a viewer changes nothing -------------------------------------------------------------------------
    Case("viewer-launch", ["backfill", "launch", "afkit_quick", "--from", "2026-05-25", "--to", "2026-05-26",
                           "--yes"], 4, ("'viewer'",), env=VIEWER),
    Case("viewer-pause", ["backfill", "pause", "{backfill}"], 4, ("'viewer'",), env=VIEWER,
         setup=paused_backfill_of_bulk),
    Case("viewer-resume", ["backfill", "resume", "{backfill}"], 4, ("'viewer'",), env=VIEWER,
         setup=paused_backfill_of_bulk),
    Case("viewer-cancel", ["backfill", "cancel", "{backfill}"], 4, ("'viewer'",), env=VIEWER,
         setup=paused_backfill_of_bulk),
    # -- where Airflow is -------------------------------------------------------------------------------------------
    Case("url-https-to-http-port", ["--url", "https://{host}", "status"], 3, ("https://",)),
    Case("url-not-airflow-path", ["--url", "http://{host}/no/such/prefix", "status"], 3, ("/no/such/prefix",)),
]


def snapshot(airflow: RunningAirflow, state_db: Path) -> dict:
    """What a refused input must leave as it was: Airflow's backfills, pools and paused DAGs, and afkit's state."""
    state = {}
    if state_db.exists():
        with sqlite3.connect(state_db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            state = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    backfills = raw_get(airflow, "/ui/backfills?limit=100")
    return {
        "backfills": backfills["total_entries"],
        "backfill_states": sorted((b["id"], b["is_paused"], bool(b.get("completed_at")))
                                  for b in backfills["backfills"]),
        "pools": sorted((p["name"], p["slots"]) for p in raw_get(airflow, "/api/v2/pools?limit=100")["pools"]),
        "paused_dags": sorted(d["dag_id"] for d in raw_get(airflow, "/api/v2/dags?limit=200&paused=true")["dags"]),
        "state": state,
    }


def test_the_table_and_its_unit_twin_hold_at_least_80_bad_inputs():
    from tests.unit.cli.test_bad_inputs import CASES as UNIT_CASES

    assert len(CASES) >= 20 and len(CASES) + len(UNIT_CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_against_airflow_is_named_refused_and_changes_nothing(case: Case, airflow, admin_env, tmp_path):
    state_db = tmp_path / "state.db"
    StateStore(f"sqlite:///{state_db}").dispose()  # the tables exist: "nothing changed" compares rows
    env = {**admin_env, "AFKIT_STATE_URL": f"sqlite:///{state_db}", "AFKIT_CONFIG": str(tmp_path / "afkit.toml"),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "AFKIT_DEBUG": None}
    world = World(airflow, env, tmp_path,
                  {"home": str(tmp_path), "viewer": airflow.passwords["viewer"],
                   "host": airflow.url.split("://", 1)[1]})
    if case.setup:
        case.setup(world)
    run_env = dict(env)
    for name, value in case.env.items():
        run_env[name] = value.format(**world.values) if value is not None else None
    args = [a.format(**world.values) for a in case.args]
    before = snapshot(airflow, state_db)

    result = run_cli(args, env=run_env)

    output = result.output
    assert result.exit_code == case.code, output
    for words in case.says:
        assert words in output, output
    assert "Traceback" not in output and "internal error" not in output, output
    assert airflow.admin[1] not in output and airflow.passwords["viewer"] not in output
    if "expired" in world.values:
        assert world.values["expired"] not in output
    assert snapshot(airflow, state_db) == before
    for backfill_id in [world.values["backfill"]] if "backfill" in world.values else []:
        with AirflowClient(admin_settings(airflow)) as client:
            cancel_unless_completed(client, int(backfill_id))
    shutil.rmtree(tmp_path / "xdg", ignore_errors=True)
