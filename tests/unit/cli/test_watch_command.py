"""``afkit watch`` at the edge: ``--once`` exits non-zero when a part of its pass failed, a long-running watch goes on
after a failed pass, and ``--json`` prints one JSON object per pass on stdout (JSON lines) and nothing else."""

from __future__ import annotations

import json
import os
import signal

import pytest

from toolkit.errors import WATCH_PASS_FAILED, AirflowUnreachable, ExitCode
from toolkit.services.watch import Watcher


@pytest.fixture
def unreachable(airflow, monkeypatch):
    """Airflow stops answering the reads a pass makes (the SLA board, the cadences, the pools)."""
    def refuse(*args, **kwargs):
        raise AirflowUnreachable(f"cannot reach Airflow at {airflow.url}: connection refused")

    for resource, method in ((airflow.assets, "list"), (airflow.pools, "list"), (airflow.backfills, "list_active")):
        monkeypatch.setattr(resource, method, refuse)
    return airflow


def test_once_exits_zero_after_a_pass_without_errors(airflow, afkit):
    result = afkit("watch", "--once")
    assert result.exit_code == ExitCode.OK, result.output
    assert "error:" not in result.stderr
    assert "alert " in result.stdout and "pass: " in result.stdout


def test_once_exits_with_the_connection_code_when_a_part_of_its_pass_failed(unreachable, afkit):
    result = afkit("watch", "--once")
    assert WATCH_PASS_FAILED == ExitCode.CONNECTION
    assert result.exit_code == WATCH_PASS_FAILED, result.output
    assert "error: SLA evaluation: cannot reach Airflow" in result.stderr
    assert "error:" not in result.stdout


def test_once_json_prints_one_line_that_says_the_pass_failed(unreachable, afkit):
    result = afkit("watch", "--once", "--json")
    assert result.exit_code == WATCH_PASS_FAILED
    (line,) = result.stdout.splitlines()
    data = json.loads(line)
    assert data["ok"] is False and any("cannot reach Airflow" in e for e in data["errors"])
    assert "afkit watch as" in result.stderr and "afkit watch as" not in result.stdout  # the banner is not data


def test_a_long_running_watch_goes_on_after_a_failed_pass_and_restores_the_signal_handlers(unreachable, afkit,
                                                                                           monkeypatch):
    passes = []
    run_once = Watcher.run_once

    def counted(self, *args, **kwargs):
        report = run_once(self, *args, **kwargs)
        passes.append(report)
        if len(passes) == 2:  # as a service manager stops it
            os.kill(os.getpid(), signal.SIGTERM)
        return report

    monkeypatch.setattr(Watcher, "run_once", counted)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    result = afkit("watch", "--interval", "0.2", "--json")

    assert result.exit_code == ExitCode.OK, result.output
    assert len(passes) == 2 and all(p.errors for p in passes)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["ok"] for line in lines] == [False, False]
    assert result.stderr.count("error: SLA evaluation") == 2 and "afkit watch stopped." in result.stderr
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
