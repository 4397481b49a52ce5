"""Issue 6 benchmark: the cadence of 10,000 assets x 100 events each, scanned from PostgreSQL through the plugin.

A real Airflow 3.3 (api-server) on PostgreSQL. The assets and their events are inserted straight into Airflow's
``asset``, ``asset_active`` and ``asset_event`` tables with ``INSERT … SELECT generate_series`` (Airflow has no bulk
API), once, before anything is timed. Cadences run from 1 minute to 1 hour with ±5% jitter; every twentieth asset
moved to a 6x faster cadence 30 events ago, so the scan finds 500 changes. The timed figure is one request to
``GET /afkit/api/v1/cadence``, from sending it to the last byte of the answer: reading every series from the
database, judging them, the seam report of the changed assets, and the JSON. Goal: at most 1 s.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sla_benchmark import admin_client, api_server_on_postgres, rss_kib, run_sql  # noqa: E402 - shared helpers

ASSETS = 10_000
EVENTS = 100
CHANGED_EVERY = 20  # every twentieth asset changed cadence
NEW_REGIME = 30  # events since the change

SEED = f"""
INSERT INTO asset (name, uri, "group", extra, created_at, updated_at)
  SELECT 'cadence.asset_' || g, 'cadence.asset_' || g, 'asset', json_build_object('owner', 'team_' || (g % 50)),
         now() - interval '60 days', now()
  FROM generate_series(1, {ASSETS}) AS g;
INSERT INTO asset_active (name, uri) SELECT name, uri FROM asset WHERE name LIKE 'cadence.asset_%';
WITH numbered AS (SELECT id, split_part(name, '_', 2)::int AS g FROM asset WHERE name LIKE 'cadence.asset_%'),
assets AS (SELECT id, 60.0 * (1 + g % 60) AS base, (g % {CHANGED_EVERY} = 0) AS changed FROM numbered)
INSERT INTO asset_event (asset_id, extra, timestamp, source_map_index)
  SELECT a.id, '{{}}'::json,
         now() - make_interval(secs => CASE
           WHEN a.changed AND k <= {NEW_REGIME} THEN k * a.base / 6 + random() * 0.05 * a.base / 6
           WHEN a.changed THEN {NEW_REGIME} * a.base / 6 + (k - {NEW_REGIME}) * a.base + random() * 0.05 * a.base
           ELSE k * a.base + random() * 0.05 * a.base END),
         -1
  FROM assets a CROSS JOIN generate_series(1, {EVENTS}) AS k;
ANALYZE asset; ANALYZE asset_event;
"""


def main() -> int:
    with api_server_on_postgres("afkit-bench-cadence-") as running:
        if running is None:
            return 0
        started = time.monotonic()
        run_sql(running, SEED)
        print(f"seeded {ASSETS} assets x {EVENTS} events = {ASSETS * EVENTS} events "
              f"in {time.monotonic() - started:.0f}s")
        token = admin_client(running)._token
        api_pid = running.processes["api-server"].pid
        before = rss_kib(api_pid)

        def scan() -> bytes:
            request = urllib.request.Request(running.url + "/afkit/api/v1/cadence",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.read()

        scan()  # warm-up: imports, first connections
        times, body = [], b""
        for _ in range(5):
            t0 = time.perf_counter()
            body = scan()
            times.append(time.perf_counter() - t0)
        reports = json.loads(body)
        changed = [r for r in reports if r["change"]]
        expected = {f"cadence.asset_{g}" for g in range(1, ASSETS + 1)}
        truly_changed = {r["asset"] for r in reports if r["asset"] in expected
                         and int(r["asset"].rsplit("_", 1)[1]) % CHANGED_EVERY == 0}
        found = {r["asset"] for r in changed if r["asset"] in truly_changed}
        wrong = [r["asset"] for r in changed if r["asset"] not in truly_changed]
        median = statistics.median(times)
        print(f"plugin endpoint /afkit/api/v1/cadence: median {median:.3f}s over 5 "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)}), {len(body) / 2**20:.1f} MiB of JSON; "
              f"goal <= 1 s: {'met' if median <= 1 else 'NOT met'}")
        print(f"assets judged: {len(reports)}; changes found {len(found)} of {len(truly_changed)}, "
              f"false alarms {len(wrong)}")
        print(f"api-server RSS {before / 1024:.0f} MiB before, {rss_kib(api_pid) / 1024:.0f} MiB after")
        return 0


if __name__ == "__main__":
    sys.exit(main())
