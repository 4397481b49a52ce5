"""Issue 16 benchmark: one ``afkit watch --once`` pass, process start to exit, with 10,000 assets (20,000 SLAs) and
1,000,000 events in PostgreSQL: through the plugin's database path, against the REST path in the same run.

The user's command is what is timed: ``afkit watch --once`` in its own process, against a real Airflow 3.3
(api-server on PostgreSQL), seeded as ``sla_benchmark.py`` seeds it. The anchor is the same command with
``AFKIT_BOARDS=rest``, which forces the REST path the watcher took before issue 16. Each pass starts from an empty
state database (so both record the same alerts) and has no Slack (alerts wait in the outbox, as they would until
Slack answers). The watcher's own breakdown (governor, cadence, SLA board, recording, delivery) is printed for both.
Goal: one pass <= 2 s and >= 50x faster than the REST path.

    .venv/bin/python benchmarks/watch_benchmark.py [--assets N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sla_benchmark  # noqa: E402  (the seeding and the throwaway Airflow)


def watch_once(running, work: Path, name: str, boards: str) -> tuple[float, str]:
    user, password = running.admin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AFKIT_", "AIRFLOW"))}
    env.update({"AFKIT_URL": running.url, "AFKIT_USERNAME": user, "AFKIT_PASSWORD": password,
                "AFKIT_STATE_URL": f"sqlite:///{work / (name + '.db')}", "AFKIT_CONFIG": str(work / "none.toml"),
                "AFKIT_BOARDS": boards, "AFKIT_TIMEOUT": "900"})
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", "watch", "--once"], env=env, capture_output=True,
                          text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"afkit watch --once ({boards}) exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds, done.stdout


def summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(("pass:", "SLA board:", "cadence:"))]
    alerts = sum(1 for line in output.splitlines() if line.startswith("alert "))
    return "; ".join(lines) + f"; {alerts} alert(s) recorded"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=sla_benchmark.ASSETS)
    args = parser.parse_args()
    sla_benchmark.ASSETS = args.assets
    with sla_benchmark.api_server_on_postgres("afkit-bench-watch-") as running:
        if running is None:
            return 0
        started = time.monotonic()
        sla_benchmark.seed(running)
        print(f"seeded {args.assets} assets x {sla_benchmark.SEEDED_EVENTS_PER_ASSET} events in "
              f"{time.monotonic() - started:.0f}s")
        work = Path(tempfile.mkdtemp(prefix="afkit-bench-watch-state-"))
        api_pid = running.processes["api-server"].pid
        before = sla_benchmark.rss_kib(api_pid)
        watch_once(running, work, "warm", "auto")  # the plugin's first request warms its caches, as any pass after it
        plugin_seconds, plugin_out = watch_once(running, work, "plugin", "auto")
        after = sla_benchmark.rss_kib(api_pid)
        rest_seconds, rest_out = watch_once(running, work, "rest", "rest")
        print(f"afkit watch --once, plugin path: {plugin_seconds:.2f}s ({summary(plugin_out)})")
        print(f"afkit watch --once, REST path (anchor): {rest_seconds:.1f}s ({summary(rest_out)})")
        print(f"speed-up {rest_seconds / plugin_seconds:.0f}x (goal >= 50x: "
              f"{'met' if rest_seconds / plugin_seconds >= 50 else 'NOT met'}); pass <= 2 s: "
              f"{'met' if plugin_seconds <= 2 else 'NOT met'}")
        print(f"api-server RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after the plugin passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
