"""How the terminal app says what to do about an error: the core names the remedy, the app names its key."""

from __future__ import annotations

from toolkit.errors import AfkitError, Remedy

HINTS = {
    Remedy.DOWNSTREAM: "open one of them and press w to plan its downstream DAGs too",
    Remedy.OLDEST_FIRST: "press o for oldest first",
    Remedy.REPROCESS: "press e to reprocess failed or completed runs",
    Remedy.NO_BUDGET: "lower the pool's reserve in afkit.toml; forcing one run at a time is only in the CLI "
                      "(afkit backfill launch --force)",
    Remedy.CANCEL_ACTIVE: "cancel backfill {backfill_id} in Airflow, or with afkit backfill cancel {backfill_id}",
    Remedy.UNPAUSE: "unpause the DAG in Airflow",
}


def hinted(message: str, remedy: str | None, args: dict | None = None) -> str:
    """``message``, with the app's words for ``remedy`` after it."""
    if remedy not in HINTS:
        return message
    return f"{message} ({HINTS[remedy].format(**(args or {}))})"


def error_text(exc: AfkitError) -> str:
    return hinted(str(exc), exc.remedy, exc.remedy_args)
