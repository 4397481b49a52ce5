"""``afkit demo`` started in the background as ``nohup afkit demo &`` would be: its scheduler is killed, the demo
reports it in one line naming the log and restarts it, the new scheduler heartbeats; then SIGINT — which such a job
inherits ignored — stops the demo and every process it started.

It boots its own Airflow (SQLite, the example DAGs, no seed history): the suite's shared Airflow is not touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from toolkit.devserver.launcher import descendants, free_port, pid_alive

from .conftest import REPO, stop_demo_keeping_logs

pytestmark = pytest.mark.integration


def _wait_for(condition, timeout: float, what: str, proc: subprocess.Popen, output: Path):
    """Poll ``condition`` until it returns something true (bounded); fail with the demo's output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited ({proc.returncode}) while waiting for {what}:\n{output.read_text()}")
        time.sleep(0.5)
    raise AssertionError(f"{what} not seen within {timeout:.0f}s:\n{output.read_text()}")


def _scheduler_pid(demo_pid: int) -> int | None:
    for pid in descendants(demo_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:4] == [b"-m", b"airflow", b"scheduler"]:
            return pid
    return None


def _heartbeat_after(url: str, moment: datetime) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            scheduler = json.loads(response.read()).get("scheduler") or {}
    except (urllib.error.URLError, OSError, ValueError):
        return False
    beat = scheduler.get("latest_scheduler_heartbeat")
    return scheduler.get("status") == "healthy" and beat is not None and datetime.fromisoformat(beat) > moment


def test_background_demo_restarts_a_killed_scheduler_and_stops_on_sigint_leaving_nothing(tmp_path: Path) -> None:
    port, home, output = free_port(), tmp_path / "home", tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFKIT_", "AIRFLOW"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the demo profile goes here, not into the user's config

    def like_nohup_in_background() -> None:  # a job started with `&` by a non-interactive shell ignores SIGINT
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    with open(output, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit", "demo", "--no-seed", "--home", str(home), "--port", str(port),
             "--dags", str(REPO / "dags")],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=like_nohup_in_background,
        )
    owned: set[int] = set()
    try:
        _wait_for(lambda: "The demo is ready." in output.read_text(), 300, "the ready line", proc, output)
        url = f"http://127.0.0.1:{port}"
        owned.update(descendants(proc.pid))
        scheduler = _wait_for(lambda: _scheduler_pid(proc.pid), 30, "the scheduler process", proc, output)

        killed_at = datetime.now(timezone.utc)
        os.kill(scheduler, signal.SIGKILL)
        log = home.resolve() / "logs" / "scheduler.log"
        line = f"Airflow scheduler was killed by SIGKILL; restarted it (restart 1 of 3) — log: {log}"
        _wait_for(lambda: line in output.read_text(), 60, "the restart line", proc, output)
        restarted = _wait_for(lambda: _scheduler_pid(proc.pid), 30, "the new scheduler", proc, output)
        assert restarted != scheduler
        _wait_for(lambda: _heartbeat_after(url, killed_at), 180, "a heartbeat of the new scheduler", proc, output)
        owned.update(descendants(proc.pid))
    finally:
        code = stop_demo_keeping_logs(proc, home, "demo-supervisor")
    text = output.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert text.rstrip().endswith("Stopped."), text
    assert owned and [pid for pid in owned if pid_alive(pid)] == []
