"""The plugin's FastAPI app, mounted by Airflow under ``/afkit``. Every route requires Airflow authentication."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from toolkit import __version__
from toolkit.service_config import load_service_config


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
            "config": {
                "path": str(config.path) if config.path else None,
                "ok": config.ok,
                "errors": list(config.errors),
            },
        }

    return app
