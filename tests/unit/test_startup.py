"""What a watcher on the plugin path loads at start: the boards come back as dataclasses, so the cadence detector's
pandas and numpy stay unloaded (a quarter of a second of every ``afkit watch --once``)."""

from __future__ import annotations

import subprocess
import sys


def test_the_watch_command_does_not_load_the_cadence_detector():
    probe = ("import sys; import toolkit.cli.watch, toolkit.services.watch, toolkit.core.plugin_api; "
             "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_detector_still_loads_where_it_judges():
    from toolkit.core.cadence import describe, describe_many

    assert callable(describe) and callable(describe_many)


def test_a_command_the_plugin_serves_starts_without_the_generated_client():
    """The watcher, ``sla status``, ``cadence scan`` and the governor read the plugin's JSON through the client's own
    transport; apache-airflow-client (0.7 s to import) loads only when a REST resource is first used."""
    probe = ("import sys; import toolkit.cli.watch, toolkit.cli.sla, toolkit.cli.cadence, toolkit.services.watch; "
             "from toolkit.airflow import AirflowClient; from toolkit.config import ConnectionSettings; "
             "client = AirflowClient(ConnectionSettings(url='http://127.0.0.1:9')); client.plugins; "
             "before = 'airflow_client' in sys.modules; client.backfills; "
             "print(before, 'airflow_client' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False True"
