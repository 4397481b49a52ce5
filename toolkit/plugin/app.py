"""The plugin's FastAPI app, mounted by Airflow under ``/afkit``. Every route requires Airflow authentication."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from toolkit import __version__
from toolkit.service_config import load_service_config


def policy_status() -> dict:
    """Whether the backfill-priority cluster policy can take effect in this deployment."""
    import importlib.util
    from importlib.metadata import entry_points

    registered = any(ep.value.startswith("toolkit.plugin.policy") for ep in entry_points(group="airflow.policy"))
    local_settings = importlib.util.find_spec("airflow_local_settings") is not None
    return {
        "registered": registered,
        "airflow_local_settings": local_settings,
        "active": registered and local_settings,
    }


def create_app() -> FastAPI:
    # Imported here so that importing the plugin module stays cheap and cannot fail on Airflow internals.
    from airflow.api_fastapi.core_api.security import requires_authenticated

    config = load_service_config()
    app = FastAPI(title="afkit", version=__version__, description="afkit plugin API")

    @app.get("/api/v1/health", dependencies=[Depends(requires_authenticated())])
    def health() -> dict:
        """Whether the plugin is loaded and its configuration valid (errors listed, secrets never included)."""
        return {
            "plugin": "afkit",
            "version": __version__,
            "policy": policy_status(),
            "config": {
                "path": str(config.path) if config.path else None,
                "ok": config.ok,
                "errors": list(config.errors),
            },
        }

    return app
