"""Issue 5 benchmark: one full SLA evaluation for 10,000 assets and 1,000,000 asset events in PostgreSQL.

Measured in one run on a real Airflow 3.3 with PostgreSQL:
- the plugin endpoint ``GET /afkit/api/v1/sla`` (set-based queries against the metadata database);
- the anchor: the same board built by paging the public REST API (``afkit sla status``: one events request per
  asset, two per producing DAG).

Seeding: Airflow has no API for loading a million events quickly (one ``POST /assets/events`` each would take well
over an hour). So the benchmark inserts the assets (with SLAs in ``extra``) and their events straight into Airflow's
own ``asset``, ``asset_active`` and ``asset_event`` tables with ``INSERT … SELECT generate_series``, once, before
anything is timed. On every tenth asset the three newest events wrote 0 rows, so the endpoint must read further back
for those (volume check). Nothing is mocked: both paths then read the same real database through Airflow.
Goal: under 1 s per evaluation through the endpoint, and at least 50x faster than REST paging. Memory: the api-server's
resident set before and after, and this process's peak while building the board over REST.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.airflow import AirflowClient  # noqa: E402
from toolkit.config import ConnectionSettings  # noqa: E402
from toolkit.devserver.launcher import AirflowSpec, PostgresCluster, start_airflow  # noqa: E402
from toolkit.services.freshness import rest_sla_board  # noqa: E402

ASSETS = 10_000
SEEDED_EVENTS_PER_ASSET = 100
SLAS = [
    {"kind": "max_lag", "warn_after": "2h", "fail_after": "6h", "owners": ["#bench"], "severity": "warning"},
    {"kind": "deadline", "cron": "0 6 * * *", "timezone": "America/Los_Angeles", "expect": "previous_day",
     "owners": ["#bench"], "severity": "critical", "min_rows": 1},
]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def seed(running) -> None:
    sql = f"""
    INSERT INTO asset (name, uri, "group", extra, created_at, updated_at)
      SELECT 'bench.asset_' || g, 'bench.asset_' || g, 'asset',
             json_build_object('owner', 'bench', 'afkit_sla', json_build_array(
               '{json.dumps(SLAS[0])}'::json, '{json.dumps(SLAS[1])}'::json)),
             now() - interval '30 days', now()
      FROM generate_series(1, {ASSETS}) AS g;
    INSERT INTO asset_active (name, uri) SELECT name, uri FROM asset WHERE name LIKE 'bench.asset_%';
    INSERT INTO asset_event (asset_id, extra, timestamp, source_map_index)
      SELECT a.id, json_build_object('row_count', CASE WHEN a.id % 10 = 0 AND g <= 3 THEN 0 ELSE 5 END), now() - (g * interval '7 minutes') - (a.id % 600) * interval '1 minute', -1
      FROM asset a CROSS JOIN generate_series(1, {SEEDED_EVENTS_PER_ASSET}) AS g WHERE a.name LIKE 'bench.asset_%';
    ANALYZE asset; ANALYZE asset_event;
    """
    run_sql(running, sql)


def run_sql(running, sql: str) -> None:
    """Run SQL as one transaction in the launch's PostgreSQL through psql (the benchmarks' bulk seeding)."""
    port = running.database_url.split("@127.0.0.1:")[1].split("/")[0]
    prefix = ["runuser", "-u", running.postgres.run_as, "--"] if running.postgres.run_as else []
    subprocess.run([*prefix, "psql", "-h", "127.0.0.1", "-p", port, "-U", "airflow", "-d", "airflow", "-q",
                    "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, timeout=900)


@contextlib.contextmanager
def api_server_on_postgres(prefix: str, *, components: tuple[str, ...] = ("api-server",),
                           dags: dict[str, str] | None = None):
    """A throwaway Airflow (api-server only, unless told) on PostgreSQL for a benchmark, with ``dags`` (file name ->
    source) in its DAGs folder; None when PostgreSQL is missing."""
    ok, why = PostgresCluster.available()
    if not ok:
        print(f"skipped: this benchmark needs PostgreSQL ({why})")
        yield None
        return
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "dags").mkdir()
    for name, source in (dags or {}).items():
        (work / "dags" / name).write_text(source)
    running = start_airflow(AirflowSpec(home=work / "home", dags_folder=work / "dags", database="postgres",
                                        components=components))
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)


def admin_client(running) -> AirflowClient:
    """A REST client logged in as the launch's admin; its token (``_token``) also authorises raw requests."""
    user, password = running.admin
    client = AirflowClient(ConnectionSettings(url=running.url, username=user, password=password, timeout=300))
    client.pools.list()  # exchanges the password for a token
    return client


def main() -> int:
    with api_server_on_postgres("afkit-bench-sla-") as running:
        if running is None:
            return 0
        started = time.monotonic()
        seed(running)
        print(f"seeded {ASSETS} assets x {SEEDED_EVENTS_PER_ASSET} events = {ASSETS * SEEDED_EVENTS_PER_ASSET} events "
              f"in {time.monotonic() - started:.0f}s")
        client = admin_client(running)
        token = client._token  # reused by the endpoint requests
        api_pid = running.processes["api-server"].pid
        before = rss_kib(api_pid)

        def endpoint() -> bytes:
            request = urllib.request.Request(running.url + "/afkit/api/v1/sla",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.read()

        endpoint()  # warm-up
        times, body = [], b""
        for _ in range(5):  # request to last byte received: evaluation, serialisation and transfer of the board
            t0 = time.perf_counter()
            body = endpoint()
            times.append(time.perf_counter() - t0)
        board = json.loads(body)
        after = rss_kib(api_pid)
        db_median = statistics.median(times)
        assert len(board["slas"]) == 2 * ASSETS, len(board["slas"])

        tracemalloc.start()
        t0 = time.perf_counter()
        rest = rest_sla_board(client)  # the anchor: always the REST path
        rest_seconds = time.perf_counter() - t0
        _, rest_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(rest.statuses) == 2 * ASSETS
        same = sum(1 for a, b in zip(sorted((s["asset"], s["sla"], s["status"]) for s in board["slas"]),
                                     sorted((s.sla.asset, s.sla.name, s.status) for s in rest.statuses)) if a == b)
        print(f"plugin endpoint (database): median {db_median:.3f}s over 5, {len(body) / 2**20:.1f} MiB of JSON "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
        print(f"REST paging (afkit sla status): {rest_seconds:.1f}s")
        print(f"speed-up: {rest_seconds / db_median:.0f}x (goal >= 50x: "
              f"{'met' if rest_seconds / db_median >= 50 else 'NOT met'}); under 1 s: "
              f"{'met' if db_median < 1 else 'NOT met'}")
        print(f"same status for {same} of {2 * ASSETS} SLAs")
        print(f"api-server RSS {before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after; "
              f"REST path peak Python memory {rest_peak / 2**20:.0f} MiB")
        return 0


if __name__ == "__main__":
    sys.exit(main())
