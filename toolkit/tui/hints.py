"""How the terminal app says what to do about an error: the core names the remedy, the app names its key."""

from __future__ import annotations

from toolkit.errors import Remedy

HINTS = {
    Remedy.DOWNSTREAM: "open one of them and press w to plan its downstream DAGs too",
    Remedy.OLDEST_FIRST: "press o for oldest first",
    Remedy.REPROCESS: "press e to reprocess failed or completed runs",
    Remedy.NO_BUDGET: "lower the pool's reserve in afkit.toml; forcing one run at a time is only in the CLI "
                      "(afkit backfill launch --force)",
    Remedy.CANCEL_ACTIVE: "cancel backfill {backfill_id} in Airflow, or with afkit backfill cancel {backfill_id}",
    Remedy.UNPAUSE: "unpause the DAG in Airflow",
    Remedy.SMALLER_BUDGET: "reserve {reserve} slot(s) of {pool} in afkit.toml, or plan it in the CLI with "
                           "afkit backfill plan --backfill-cap {pool}={slots}",
    Remedy.START_LATER: "launch it at or after {at} (afkit backfill launch --start-after {at})",
}

