"""The one REST boundary: every call afkit makes to Airflow goes through :class:`AirflowClient`.

- :mod:`toolkit.airflow.client` — the transport: base URL, JWT from ``/auth/token``, timeouts, paging, retries for
  idempotent reads, and the translation of every failure into ``toolkit.errors``.
- :mod:`toolkit.airflow.operations` — one class per REST resource (``client.dags``, ``client.backfills`` …) and the
  converters to :mod:`toolkit.models` dataclasses, so callers never see client models.
- :mod:`toolkit.airflow.plugin_operations` — the afkit plugin's JSON API (``client.plugins``), plain JSON reads.
- :mod:`toolkit.airflow.call` — what they share (``Call``, ``ErrorAnswer``, ``PAGE_SIZE``, the ``Transport``).

Imports run one way: ``client`` -> ``operations`` / ``plugin_operations`` -> ``call``; the operations never import
the client. ``client`` imports ``operations`` (and the generated client under it) only when a resource is first used.
"""

from toolkit.airflow.call import PAGE_SIZE, Call, ErrorAnswer, Transport
from toolkit.airflow.client import RETRYABLE_STATUSES, TOKEN_RENEW_MARGIN_SECONDS, AirflowClient

__all__ = [
    "PAGE_SIZE",
    "RETRYABLE_STATUSES",
    "TOKEN_RENEW_MARGIN_SECONDS",
    "AirflowClient",
    "Call",
    "ErrorAnswer",
    "Transport",
]
