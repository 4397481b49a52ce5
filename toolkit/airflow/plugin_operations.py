"""The afkit plugin's JSON API (``/afkit/api/v1/…``) as the operator side reads it.

Apart from the operations of :mod:`toolkit.airflow.operations` because these need no generated client: plain JSON
GETs through the same :class:`~toolkit.airflow.call.Transport`, so a command the plugin serves starts without
importing apache-airflow-client (0.7 s).
"""

from __future__ import annotations

from toolkit.airflow.call import Call, Transport
from toolkit.core.plugin_api import TYPED_FORM
from toolkit.errors import NotFound


class PluginOperations:
    def __init__(self, client: Transport) -> None:
        self.client = client

    def afkit_health(self) -> dict | None:
        """The afkit plugin's own health (config errors, cluster policy); None when the plugin is not installed."""
        try:
            return self.client.get_json(Call("read the afkit plugin's health"), "/afkit/api/v1/health", {})
        except NotFound:
            return None

    def sla_board(self) -> bytes:
        """The plugin's SLA board in its typed form (``core.plugin_api.board_from_typed_json`` reads it), computed
        from the metadata database."""
        return self.client.get_json_bytes(Call("read the afkit plugin's SLA board", permission="read access to assets"),
                                          "/afkit/api/v1/sla", {"form": TYPED_FORM})

    def cadence(self, intervals: bool = True, changed_only: bool = False) -> bytes:
        """The plugin's cadence reports in their typed form (``core.plugin_api.reports_from_typed_json`` reads them):
        every asset's, or only the changed assets' with ``changed_only``; every asset's interval history with
        ``intervals``, else only the changed assets' (a tenth of the size at 10,000 assets)."""
        return self.client.get_json_bytes(Call("read the afkit plugin's cadence reports",
                                               permission="read access to assets"), "/afkit/api/v1/cadence",
                                          {"intervals": str(intervals).lower(),
                                           "changed_only": str(changed_only).lower(), "form": TYPED_FORM})

    def occupancy(self) -> dict:
        """The plugin's slot usage per pool (``plugin.operations_db.slot_usage``), from the metadata database."""
        return self.client.get_json(Call("read the afkit plugin's pool occupancy", permission="read access to pools"),
                                    "/afkit/api/v1/occupancy", {})

    def carve(self, pool: str, *, production_slots: int | None = None, companion_slots: int | None = None,
              expect_production: int | None = None, expect_companion: int | None = None) -> dict:
        """Set a carved pool's and its companion's slots together, only if they still have the expected ones
        (Conflict otherwise); create the companion if missing; route not-yet-started backfill task instances into it.
        Without slots, only the last two (``plugin.operations_db.carve_pool``)."""
        from urllib.parse import quote

        body = {"production_slots": production_slots, "companion_slots": companion_slots,
                "expect_production": expect_production, "expect_companion": expect_companion}
        call = Call(f"carve pool {pool!r}", resource=f"pool {pool!r}", permission="edit access to pools",
                    idempotent=False)
        return self.client.post_json(call, f"/afkit/api/v1/carves/{quote(pool, safe='')}", body)

    def backfills(self) -> list:
        """The plugin's active backfills of the DAGs the caller may read (``plugin.operations_db.active_backfills``)."""
        return self.client.get_json(Call("read the afkit plugin's active backfills",
                                         permission="read access to backfills"), "/afkit/api/v1/backfills", {})

    def demo_inbox(self) -> dict | None:
        """The demo's Slack inbox (``toolkit.core.inbox.inbox_to_dict``) as the plugin serves it; None when the plugin
        is not installed or is older than the inbox."""
        try:
            return self.client.get_json(Call("read the demo's Slack inbox"), "/afkit/api/v1/demo/inbox", {})
        except NotFound:
            return None

    def names(self) -> list[str]:
        """Every plugin Airflow has loaded (the public API's list, through the generated client)."""
        from airflow_client.client.api.plugin_api import PluginApi

        api = PluginApi(self.client.api_client)
        return [p.name for p in self.client.paged(Call("list plugins", permission="read access to plugins"),
                                                  api.get_plugins, "plugins")]
