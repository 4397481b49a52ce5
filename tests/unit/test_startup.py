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
