"""The one REST boundary: every call afkit makes to Airflow goes through :class:`AirflowClient`.

- :mod:`toolkit.airflow.client` — the transport: base URL, JWT from ``/auth/token``, timeouts, paging, retries for
  idempotent reads, and the translation of every failure into ``toolkit.errors``.
- :mod:`toolkit.airflow.operations` — one class per REST resource (``client.dags``, ``client.backfills`` …) and the
  converters to :mod:`toolkit.models` dataclasses, so callers never see client models.
- :mod:`toolkit.airflow.call` — what both share (``Call``, ``PAGE_SIZE``, the ``Transport`` protocol).

Imports run one way: ``client`` -> ``operations`` -> ``call``; the operations never import the client.
"""

from toolkit.airflow.call import PAGE_SIZE, Call, Transport
from toolkit.airflow.client import RETRYABLE_STATUSES, TOKEN_RENEW_MARGIN_SECONDS, AirflowClient
from toolkit.airflow.operations import (
    AssetOperations,
    BackfillOperations,
    DagOperations,
    DagRunOperations,
    MonitorOperations,
    PluginOperations,
    PoolOperations,
    TaskInstanceOperations,
    VariableOperations,
)

__all__ = [
    "PAGE_SIZE",
    "RETRYABLE_STATUSES",
    "TOKEN_RENEW_MARGIN_SECONDS",
    "AirflowClient",
    "AssetOperations",
    "BackfillOperations",
    "Call",
    "DagOperations",
    "DagRunOperations",
    "MonitorOperations",
    "PluginOperations",
    "PoolOperations",
    "TaskInstanceOperations",
    "Transport",
    "VariableOperations",
]
