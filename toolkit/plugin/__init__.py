"""The afkit Airflow plugin, registered by the ``airflow.plugins`` entry point (and re-exported by ``plugins/``).

Airflow imports plugins in every component, and an exception here takes the api-server down with it, so this module
imports only Airflow's plugin base at top level and builds its FastAPI app defensively: any failure is logged and the
plugin still registers (without the app) so Airflow keeps running.
"""

from __future__ import annotations

import logging

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

URL_PREFIX = "/afkit"
# The page in Airflow's navigation: an external view embedded (iframe) at /plugin/afkit, served by the plugin's app.
EXTERNAL_VIEW = {"name": "afkit", "href": f"{URL_PREFIX}/ui/", "url_route": "afkit", "destination": "nav",
                 "category": "browse", "icon": f"{URL_PREFIX}/ui/icon.svg"}
# A tab on each DAG's page in Airflow's UI (/dags/<dag_id>/plugin/afkit-dag): that DAG's backfills, partitions and
# SLAs. For a destination other than "nav", Airflow's UI puts the DAG's id, URL-encoded, in place of {DAG_ID}.
DAG_VIEW = {"name": "afkit", "href": f"{URL_PREFIX}/ui/dag.html?dag_id={{DAG_ID}}", "url_route": "afkit-dag",
            "destination": "dag", "icon": f"{URL_PREFIX}/ui/icon.svg"}


def _fastapi_apps() -> list[dict]:
    try:
        from toolkit.plugin.app import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "afkit"}]
    except Exception:  # noqa: BLE001 - a plugin must never break Airflow's start-up; the error is logged in full
        log.exception("afkit: the plugin's API could not be created; Airflow continues without it")
        return []


class AfkitPlugin(AirflowPlugin):
    """Freshness SLAs, cadence-change detection and pool-aware backfills for Airflow 3."""

    name = "afkit"
    fastapi_apps = _fastapi_apps()
    external_views = [EXTERNAL_VIEW, DAG_VIEW] if fastapi_apps else []  # no page without the app that serves it
