"""The backfills that have not completed yet, of every DAG the caller may read: from the afkit plugin when it is
there (one query), else through Airflow's UI API (paged). ``afkit status`` and the governor read them here, so they
take the same path as the boards.
"""

from __future__ import annotations

from toolkit.airflow import AirflowClient
from toolkit.core.plugin_api import backfills_from_dicts
from toolkit.models import Backfill
from toolkit.services import plugin_path
from toolkit.services.plugin_path import PathUsed


def read_active_backfills(client: AirflowClient) -> tuple[list[Backfill], PathUsed]:
    return plugin_path.read(client, "active backfills", lambda: backfills_from_dicts(client.plugins.backfills()),
                            lambda: client.backfills.list_active())  # client.backfills loads the generated client
