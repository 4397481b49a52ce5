"""Long REST reads tell their progress (what, done, total) to whoever asked, and read the same board either way."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.services.conftest import NOW
from toolkit.core.cadence_impact import report_to_dict
from toolkit.services.cadence import rest_cadence_reports
from toolkit.services.freshness import rest_sla_board, sla_board
from toolkit.sla import max_lag, with_slas


def many_assets(airflow, count: int) -> None:
    airflow.add_dag("ingest", [])
    for n in range(count):
        airflow.add_asset(f"raw.table_{n}", producing_dags=("ingest",),
                          extra=with_slas({}, max_lag(warn_after="30m", fail_after="1h", owners=["#data"])))
        for minutes in (90, 50, 10 + n % 30):
            airflow.add_event(f"raw.table_{n}", NOW - timedelta(minutes=minutes), source_dag_id="ingest",
                              source_run_id=f"scheduled__{n}_{minutes}")


def test_the_rest_sla_board_tells_its_progress_and_is_the_same_board(airflow):
    many_assets(airflow, 60)
    heard: list[tuple[str, int, int]] = []
    board = sla_board(airflow, NOW, progress=lambda *step: heard.append(step))
    assert board.source == "rest" and board == sla_board(airflow, NOW)
    assert [done for _, done, _ in heard] == list(range(61))
    assert {(what, total) for what, _, total in heard} == {("asset events for the SLA board", 60)}
    assert {s.status for s in board.statuses} == {"fresh", "at_risk"}


def test_the_rest_cadence_scan_tells_its_progress_and_is_the_same_scan(airflow):
    many_assets(airflow, 55)
    heard: list[tuple[str, int, int]] = []
    reports = rest_cadence_reports(airflow, now=NOW, progress=lambda *step: heard.append(step))
    assert [report_to_dict(r) for r in reports] == [report_to_dict(r) for r in rest_cadence_reports(airflow, now=NOW)]
    scan = [step for step in heard if step[0] == "asset events for the cadence scan"]
    total = len(airflow.asset_rows)  # every asset is scanned, the fixture's own as well as these
    assert total >= 55 and [done for _, done, _ in scan] == list(range(total + 1))
    assert {t for _, _, t in scan} == {total}
    assert rest_sla_board(airflow, NOW).statuses  # the board the scan may need reads on its own too
