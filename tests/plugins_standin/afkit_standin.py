"""A stand-in for the afkit plugin, for the tests of the operator side's fallback: an Airflow plugin that a real
api-server loads from its plugins folder (in a virtualenv without afkit), whose root middleware answers the afkit
plugin's paths the way a missing, older or failing plugin would. The mode is read on every request from
``$AIRFLOW_HOME/afkit-standin-mode``, so one api-server serves every case:

- ``absent``: every request passes through, and Airflow answers ``/afkit/…`` itself, as where afkit is not installed;
- ``old``: health without an API version (a plugin from before versioning), boards answered in another shape;
- ``fail``: health of today's API version (``AFKIT_STANDIN_API``), every board answered with HTTP 500;
- ``slow``: health as ``fail``, every board answered only after ``AFKIT_STANDIN_DELAY`` seconds.

Like the real plugin, it answers nothing without a bearer token (401).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

MODE_FILE = "afkit-standin-mode"


def _mode() -> str:
    try:
        return (Path(os.environ["AIRFLOW_HOME"]) / MODE_FILE).read_text().strip()
    except OSError:
        return "absent"


class StandIn:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        mode = _mode()
        if scope["type"] != "http" or not scope["path"].startswith("/afkit/") or mode == "absent":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not headers.get(b"authorization", b"").startswith(b"Bearer "):
            await self._answer(send, 401, {"detail": "Not authenticated"})
        elif scope["path"] == "/afkit/api/v1/health":
            api = None if mode == "old" else int(os.environ["AFKIT_STANDIN_API"])
            await self._answer(send, 200, {"plugin": "afkit", "version": "0.0-standin", **({"api": api} if api else {})})
        elif mode == "old":
            await self._answer(send, 200, {"board": "of an older shape"})
        elif mode == "fail":
            await self._answer(send, 500, {"detail": "Internal Server Error"})
        else:
            await asyncio.sleep(float(os.environ.get("AFKIT_STANDIN_DELAY", "30")))
            await self._answer(send, 500, {"detail": "too late to matter"})

    @staticmethod
    async def _answer(send, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


class AfkitStandInPlugin(AirflowPlugin):
    name = "afkit_standin"
    fastapi_root_middlewares = [{"middleware": StandIn, "args": [], "kwargs": {}, "name": "afkit stand-in"}]
