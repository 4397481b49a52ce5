"""The plugin's FastAPI app, mounted by Airflow under ``/afkit``. Every route requires Airflow authentication."""

# No `from __future__ import annotations` here: FastAPI must see the real dependency types of the routes.

import os
from datetime import datetime, timezone
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from toolkit import __version__
from toolkit.core.allocation import allocation_burst
from toolkit.service_config import load_service_config

STATIC = Path(__file__).with_name("static")
# The page and its assets ship inside the package: no CDN, so it works on an air-gapped deployment.
ASSETS = {"afkit.js": "text/javascript", "afkit.css": "text/css", "icon.svg": "image/svg+xml",
          "common.js": "text/javascript", "pictures.js": "text/javascript", "dag.js": "text/javascript",
          "dag.html": "text/html"}


def encode_json(payload: object) -> bytes:
    """msgspec's JSON (an Airflow dependency and afkit's): FastAPI's generic encoder is the slow part of a board."""
    from msgspec.json import encode

    return encode(payload)


def policy_status() -> dict:
    """Whether the cluster policy (backfill priority, carving) can take effect in this deployment, and which pools it
    carves."""
    from importlib.metadata import entry_points

    from toolkit.plugin.policy import carved_pools, local_settings_importable

    registered = any(ep.value.startswith("toolkit.plugin.policy") for ep in entry_points(group="airflow.policy"))
    local_settings = local_settings_importable()
    return {
        "registered": registered,
        "airflow_local_settings": local_settings,
        "active": registered and local_settings,
        "carved_pools": sorted(carved_pools()) if registered else [],
    }


def carved_here() -> frozenset[str]:
    """The pools this Airflow's policy carves (none when the policy is not registered)."""
    from toolkit.plugin.policy import carved_pools

    return carved_pools() if policy_status()["registered"] else frozenset()


class CarveBody(BaseModel):
    production_slots: int | None = None
    companion_slots: int | None = None
    expect_production: int | None = None
    expect_companion: int | None = None


def dags_whose_runs_user_may_edit(auth_manager, user, dag_ids: set[str], session) -> set[str]:
    """The DAGs whose backfills the user may pause and resume: the check Airflow's ``requires_access_backfill(
    method="PUT")`` makes for a backfill named in the path (edit access to the DAG's runs, with the DAG's team), which
    guards this plugin's pause and resume routes too; one question to the auth manager per DAG."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    if not dag_ids:
        return set()
    teams = DagModel.get_dag_id_to_team_name_mapping(sorted(dag_ids), session=session)
    return {dag_id for dag_id in dag_ids if auth_manager.is_authorized_dag(
        method="PUT", access_entity=DagAccessEntity.RUN, user=user,
        details=DagDetails(id=dag_id, team_name=teams.get(dag_id)))}


def _instant(value: str | None, name: str) -> datetime | None:
    """A query parameter's ISO 8601 instant (UTC when it names no offset); 400 for anything else."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be an ISO 8601 instant, not {value!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def create_app() -> FastAPI:
    # Imported here so that importing the plugin module stays cheap and cannot fail on Airflow internals.
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import (
        GetUserDep,
        requires_access_asset,
        requires_access_backfill,
        requires_access_dag,
        requires_access_pool,
        requires_authenticated,
    )
    from airflow.api_fastapi.logging.decorators import action_logging

    from toolkit.core.cadence_impact import report_to_dict
    from toolkit.plugin.freshness_db import board_from_db
    from toolkit.plugin.operations_db import (
        CarveConflict,
        active_backfills,
        carve_pool,
        pool_occupancy,
        set_backfill_paused,
        slot_usage,
    )
    from toolkit.core.plugin_api import DICT_FORM, TYPED_FORM
    from toolkit.core.sla_board import board_to_dict
    from toolkit.core.throttle import ThrottlePolicy

    def _check_form(form: str) -> None:
        if form not in (DICT_FORM, TYPED_FORM):
            raise HTTPException(400, f"form must be {DICT_FORM} or {TYPED_FORM}, not {form!r}")

    config = load_service_config()
    app = FastAPI(title="afkit", version=__version__, description="afkit plugin API")

    @app.get("/api/v1/health", dependencies=[Depends(requires_authenticated())])
    def health() -> dict:
        """Whether the plugin is loaded and its configuration valid (errors listed, secrets never included)."""
        from toolkit.core.plugin_api import API_VERSION

        return {
            "plugin": "afkit",
            "version": __version__,
            "api": API_VERSION,  # the JSON API's version: an operator-side afkit of another one uses REST instead
            "policy": policy_status(),
            "config": {
                "path": str(config.path) if config.path else None,
                "ok": config.ok,
                "errors": list(config.errors),
            },
        }

    @app.get("/api/v1/demo/inbox", dependencies=[Depends(requires_authenticated())])
    def demo_inbox() -> dict:
        """What the demo's Slack inbox received, rendered (``enabled`` false outside ``afkit demo``)."""
        from toolkit.core.inbox import inbox_to_dict
        from toolkit.devserver.slack_inbox import DEMO_INBOX_ENV, read_inbox

        record = os.environ.get(DEMO_INBOX_ENV)
        return inbox_to_dict(bool(record), read_inbox(Path(record)) if record else [])

    @app.get("/api/v1/sla", dependencies=[Depends(requires_access_asset(method="GET"))])
    def sla_board(session: SessionDep, form: str = DICT_FORM) -> Response:
        """Every declared SLA's status, computed from the metadata database: the shape of `afkit sla status --json`,
        or with ``form=typed`` the board's dataclasses as they are (what afkit reads: ``plugin_api.TYPED_FORM``)."""
        _check_form(form)
        with allocation_burst():
            board = board_from_db(session, datetime.now(timezone.utc))
            return Response(content=encode_json(board if form == TYPED_FORM else board_to_dict(board)),
                            media_type="application/json")

    @app.get("/api/v1/cadence", dependencies=[Depends(requires_access_asset(method="GET"))])
    def cadence(session: SessionDep, changed_only: bool = False, intervals: bool = False,
                form: str = DICT_FORM, sparkline: bool = False) -> Response:
        """Every active asset's cadence (typical interval, pattern, last change) and, for changed assets, the seam
        report, computed from the metadata database: the shape of `afkit cadence scan --json`, or with
        ``form=typed`` the reports' dataclasses (what afkit reads).

        The interval history (for sparklines) comes with changed assets only, unless ``intervals=true``. With
        ``sparkline=true`` each report has its ``sparkline`` too, as the page draws it (``core.pictures``). Only
        assets with events since the previous request are judged again (``cadence_db.CadenceCache``)."""
        # The cadence detector (numpy, pandas) is loaded by the first cadence request, in the api-server: Airflow
        # builds this app in every component that loads plugins (scheduler, workers, tasks), and none of them use it.
        from toolkit.core.pictures import sparkline as sparkline_of
        from toolkit.core.pictures import sparkline_to_dict
        from toolkit.plugin.cadence_db import cadence_from_db

        _check_form(form)
        if sparkline and form == TYPED_FORM:
            raise HTTPException(400, "sparkline=true is for the dict form only")
        now = datetime.now(timezone.utc)
        with allocation_burst():
            reports = cadence_from_db(session, now, sla_board=lambda: board_from_db(session, now),
                                      intervals=intervals, changed_only=changed_only)
            if form == TYPED_FORM:
                return Response(content=encode_json(reports), media_type="application/json")
            body = []
            for r in reports:
                entry = report_to_dict(r, intervals=intervals or r.change is not None)
                if sparkline:
                    entry["sparkline"] = sparkline_to_dict(sparkline_of(
                        r.model.intervals, r.model.last_event, r.change.at if r.change else None))
                body.append(entry)
            return Response(content=encode_json(body), media_type="application/json")

    @app.get("/api/v1/timelines", dependencies=[Depends(requires_access_asset(method="GET"))])
    def timelines(session: SessionDep, asset: list[str] = Query(default=[]), hours: float = 24.0,
                  start: str | None = None, end: str | None = None) -> Response:
        """The freshness timeline of each ``asset`` (repeat the parameter, at most 20): its events in the window as
        ticks, and per SLA its deadlines, its lag at the window's end and the windows it was late in
        (``core.pictures.timeline``). The window is ``start`` to ``end`` (ISO 8601), or the ``hours`` before
        ``end`` (now by default); at most a week."""
        from toolkit.core.pictures import timeline_to_dict, timeline_window
        from toolkit.plugin.pictures_db import MAX_TIMELINES, timelines_from_db

        if not asset:
            raise HTTPException(400, "name at least one asset (?asset=NAME)")
        if len(asset) > MAX_TIMELINES:
            raise HTTPException(400, f"at most {MAX_TIMELINES} assets per request, not {len(asset)}")
        try:
            window = timeline_window(_instant(end, "end") or datetime.now(timezone.utc), _instant(start, "start"),
                                     hours)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        found, missing = timelines_from_db(session, asset, *window)
        return Response(content=encode_json({
            "start": window[0].isoformat(), "end": window[1].isoformat(),
            "timelines": [timeline_to_dict(t) for t in found], "missing": missing}), media_type="application/json")

    @app.get("/api/v1/dags/{dag_id}/overview",
             dependencies=[Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN)),
                           Depends(requires_access_asset(method="GET"))])
    def dag_overview(dag_id: str, session: SessionDep) -> Response:
        """One DAG's view (Airflow's DAG page shows it in a tab): the assets it produces and their SLAs (entries of
        the SLA board), its newest backfills with their progress over time, and its newest runs as partitions."""
        from toolkit.plugin.pictures_db import dag_overview as overview_of

        now = datetime.now(timezone.utc)
        with allocation_burst():
            try:
                found = overview_of(session, dag_id, now, lambda: board_from_db(session, now))
            except LookupError as exc:
                raise HTTPException(404, str(exc)) from None
            return Response(content=encode_json(found), media_type="application/json")

    @app.get("/api/v1/backfills")
    def backfills(session: SessionDep, user: GetUserDep) -> list[dict]:
        """Active backfills of the DAGs the caller may read, with the states of their runs (progress), and whether
        the caller may pause and resume each (``can_pause_resume``), so the page offers only what will not be refused.
        (Airflow's own readable-DAGs dependency reads the auth manager from the main app's state, which a plugin app
        lacks.)"""
        auth_manager = get_auth_manager()
        readable = auth_manager.get_authorized_dag_ids(user=user, method="GET")
        found = active_backfills(session, set(readable))
        editable = dags_whose_runs_user_may_edit(auth_manager, user, {b["dag_id"] for b in found}, session)
        for backfill in found:
            backfill["can_pause_resume"] = backfill["dag_id"] in editable
        return found

    @app.get("/api/v1/backfills/{backfill_id}/progress",
             dependencies=[Depends(requires_access_backfill(method="GET"))])
    def backfill_progress(backfill_id: int, session: SessionDep) -> dict:
        """One backfill's runs by state and its progress over time (runs done by each run's end), for the DAG's
        readers (as Airflow's own ``GET /backfills/{id}``)."""
        from toolkit.plugin.pictures_db import backfill_progress_from_db

        try:
            return backfill_progress_from_db(session, backfill_id, datetime.now(timezone.utc))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None

    # Mutations need the permission Airflow's own pause needs, and land in Airflow's audit log like it.
    @app.post("/api/v1/backfills/{backfill_id}/pause",
              dependencies=[Depends(requires_access_backfill(method="PUT")),
                            Depends(action_logging(event="afkit_pause_backfill"))])
    def pause_backfill(backfill_id: int, session: SessionDep) -> dict:
        """Pause one backfill (needs permission to edit the DAG's runs, as Airflow's own pause does)."""
        return _set_paused(session, backfill_id, True)

    @app.post("/api/v1/backfills/{backfill_id}/resume",
              dependencies=[Depends(requires_access_backfill(method="PUT")),
                            Depends(action_logging(event="afkit_resume_backfill"))])
    def resume_backfill(backfill_id: int, session: SessionDep) -> dict:
        return _set_paused(session, backfill_id, False)

    def _set_paused(session, backfill_id: int, paused: bool) -> dict:
        try:
            return set_backfill_paused(session, backfill_id, paused)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/v1/pools", dependencies=[Depends(requires_access_pool(method="GET"))])
    def pools(session: SessionDep) -> dict:
        """Each pool's production and backfill occupancy, with the reserve afkit.toml keeps for production."""
        policy = config.throttle if config.ok else ThrottlePolicy()
        return {"pools": pool_occupancy(session, policy, carved_here()),
                "policy_errors": [] if config.ok else list(config.errors)}

    @app.get("/api/v1/occupancy", dependencies=[Depends(requires_access_pool(method="GET"))])
    def occupancy(session: SessionDep) -> dict:
        """Each pool's size and the slots held or waited for, by state, DAG and backfill or not: the raw counts the
        operator side judges under its own throttling policy (the governor, ``afkit status``, the terminal app)."""
        return slot_usage(session, carved_here())

    # Pool edit permission, as Airflow's own PATCH /pools needs, and Airflow's audit log, like it.
    @app.post("/api/v1/carves/{pool}",
              dependencies=[Depends(requires_access_pool(method="PUT")),
                            Depends(action_logging(event="afkit_carve_pool"))])
    def carve(pool: str, session: SessionDep, body: CarveBody | None = None) -> dict:
        """Set a carved pool's and its companion's slots together (only if they still have the expected ones),
        create the companion if it is missing, and route not-yet-started backfill task instances into it."""
        body = body or CarveBody()
        if (body.production_slots is None) != (body.companion_slots is None):
            raise HTTPException(400, "give production_slots and companion_slots together, or neither")
        for name, value in (("production_slots", body.production_slots), ("companion_slots", body.companion_slots)):
            if value is not None and value < 0:
                raise HTTPException(400, f"{name} must be 0 or more, not {value}")
        try:
            return carve_pool(session, pool, carved_here(), production_slots=body.production_slots,
                              companion_slots=body.companion_slots, expect_production=body.expect_production,
                              expect_companion=body.expect_companion)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        except CarveConflict as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/ui", include_in_schema=False, dependencies=[Depends(requires_authenticated())])
    def page_without_slash() -> RedirectResponse:
        return RedirectResponse("ui/")

    @app.get("/ui/", include_in_schema=False, dependencies=[Depends(requires_authenticated())])
    def page() -> FileResponse:
        """The afkit page, shown inside Airflow's UI (its navigation entry is the plugin's external view)."""
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/ui/{name}", include_in_schema=False, dependencies=[Depends(requires_authenticated())])
    def asset(name: str) -> FileResponse:
        """The page's files; ``dag.html`` is the per-DAG view (Airflow's DAG page shows it with ``?dag_id=``)."""
        if name not in ASSETS:
            raise HTTPException(404, f"no such file: {name}")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    return app
