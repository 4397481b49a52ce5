"""The launcher's supervisor and stop signals, with short-lived stand-in processes instead of Airflow (milliseconds).

Every wait is on a condition (a process exiting, a line appearing) with a bound, never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from toolkit.devserver import demo as demo_lib
from toolkit.devserver import launcher
from toolkit.cli.main import cli
from toolkit.errors import AirflowServerError, NotFound
from toolkit.devserver.launcher import AirflowSpec, ComponentRestart, LaunchError, RunningAirflow, pid_alive

REPO = Path(__file__).resolve().parents[3]


class StandInAirflow(RunningAirflow):
    """A RunningAirflow whose components are the given Python snippets (run with the component's name as argv[1])."""

    scripts: dict[str, str]

    def component_command(self, component: str) -> list[str]:
        return [sys.executable, "-c", textwrap.dedent(self.scripts[component]), component]


def stand_in(tmp_path: Path, scripts: dict[str, str], **limits: float) -> StandInAirflow:
    (tmp_path / "logs").mkdir(exist_ok=True)
    running = StandInAirflow(
        spec=AirflowSpec(home=tmp_path, dags_folder=tmp_path, components=tuple(scripts)),
        url="http://127.0.0.1:1", env=dict(os.environ), passwords={}, database_url="sqlite://", **limits,
    )
    running.scripts = scripts
    for name in scripts:
        running.start_component(name)
    return running


# Exits with code 3 the first time (leaving a marker), then stays up: a crash that a restart cures.
CRASH_ONCE = """
    import pathlib, sys, time
    marker = pathlib.Path("crashed-once")
    if not marker.exists():
        marker.write_text("x")
        print("ObjectDeletedError: DagRun has been deleted", flush=True)
        sys.exit(3)
    print("up again", flush=True)
    time.sleep(300)
"""
ALWAYS_CRASH = """
    import sys
    print("boom: cannot start", flush=True)
    sys.exit(1)
"""
STAY_UP = "import time; time.sleep(300)"


def wait_exited(running: RunningAirflow, component: str) -> None:
    running.processes[component].wait(timeout=30)


def wait_for(condition, timeout: float = 30) -> None:
    """Poll ``condition`` until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_an_exited_component_is_reported_in_one_line_with_its_log_and_restarted(tmp_path):
    running = stand_in(tmp_path, {"scheduler": CRASH_ONCE, "triggerer": STAY_UP})
    try:
        wait_exited(running, "scheduler")
        [restart] = running.supervise()
        log = tmp_path / "logs" / "scheduler.log"
        assert str(restart) == f"scheduler exited (code 3); restarted it (restart 1 of 3) — log: {log}"
        assert "ObjectDeletedError" in restart.tail
        assert running.processes["scheduler"].poll() is None  # the new one runs
        assert running.supervise() == []  # nothing else exited
        assert "--- afkit launcher: scheduler exited (code 3)" in log.read_text()  # where the new process begins
    finally:
        assert running.stop() == []


def test_a_component_that_keeps_exiting_ends_in_a_launch_error_quoting_its_log(tmp_path):
    running = stand_in(tmp_path, {"dag-processor": ALWAYS_CRASH}, max_restarts=2)
    try:
        for attempt in (1, 2):
            wait_exited(running, "dag-processor")
            [restart] = running.supervise(now=float(attempt))
            assert restart.restart == attempt and restart.budget == 2
        wait_exited(running, "dag-processor")
        with pytest.raises(LaunchError) as raised:
            running.supervise(now=3.0)
        message = str(raised.value)
        assert message.startswith("Airflow dag-processor exited (code 1) again after 2 restarts within 10 min; "
                                  f"not restarting it. Last lines of {tmp_path / 'logs' / 'dag-processor.log'}:")
        assert "boom: cannot start" in message
        with pytest.raises(LaunchError):  # still dead, still said, never restarted silently
            running.supervise(now=4.0)
    finally:
        assert running.stop() == []


def test_restarts_older_than_the_window_do_not_count(tmp_path):
    running = stand_in(tmp_path, {"scheduler": ALWAYS_CRASH}, max_restarts=1, restart_window=60)
    try:
        wait_exited(running, "scheduler")
        assert [r.restart for r in running.supervise(now=0.0)] == [1]
        wait_exited(running, "scheduler")
        assert [r.restart for r in running.supervise(now=61.0)] == [1]  # the first one is forgotten
        wait_exited(running, "scheduler")
        with pytest.raises(LaunchError):
            running.supervise(now=62.0)
    finally:
        assert running.stop() == []


def test_a_killed_component_is_named_by_its_signal_and_its_orphans_are_stopped_before_the_restart(tmp_path):
    spawner = """
        import pathlib, subprocess, sys, time
        child = subprocess.Popen(["sleep", "300"])  # as an executor worker would: same process group
        pathlib.Path("child.pid").write_text(str(child.pid))
        time.sleep(300)
    """
    running = stand_in(tmp_path, {"scheduler": spawner})
    try:
        proc = running.processes["scheduler"]
        child_file = tmp_path / "child.pid"
        wait_for(lambda: child_file.exists() and child_file.read_text())
        child = int(child_file.read_text())
        child_file.unlink()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert pid_alive(child)  # the orphan outlived its parent, as a LocalExecutor worker does
        [restart] = running.supervise()
        assert str(restart).startswith("scheduler was killed by SIGKILL; restarted it (restart 1 of 3)")
        assert not pid_alive(child)
    finally:
        assert running.stop() == []


def test_check_alive_names_a_signal_too(tmp_path):
    running = stand_in(tmp_path, {"triggerer": STAY_UP})
    try:
        running.processes["triggerer"].send_signal(signal.SIGTERM)
        wait_exited(running, "triggerer")
        with pytest.raises(LaunchError, match=r"^Airflow triggerer was killed by SIGTERM; last lines of "):
            running.check_alive()
    finally:
        assert running.stop() == []


STOPPABLE = f"""
import os, signal, sys, time
sys.path.insert(0, {str(REPO)!r})
from toolkit.devserver.launcher import StopSignals
with StopSignals() as stop:
    try:
        print("ready", flush=True)
        time.sleep(300)
    except KeyboardInterrupt:
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while cleaning up must not break the clean-up off
        print("stopped by", signal.Signals(stop.received).name, "and cleaned up", flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_background_job_with_sigint_ignored_still_stops_on_each_stop_signal(signum):
    # What `nohup … &` from a script does: the child starts with SIGINT (and SIGHUP) ignored.
    def like_nohup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen([sys.executable, "-c", STOPPABLE], stdout=subprocess.PIPE, text=True,
                            preexec_fn=like_nohup)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert out == f"stopped by {signal.Signals(signum).name} and cleaned up\n"


@dataclass
class FakeBackfills:
    complete: set[int]
    failing: bool = False
    asked: int = 0

    def get(self, backfill_id: int):
        self.asked += 1
        if self.failing:
            raise AirflowServerError("Airflow answered 503")
        if backfill_id == 99:
            raise NotFound("backfill 99 not found")
        done = datetime(2026, 12, 1, tzinfo=timezone.utc) if backfill_id in self.complete else None
        return type("B", (), {"completed_at": done})()


def test_seed_progress_says_done_exactly_once_and_survives_a_failing_airflow():
    backfills = FakeBackfills(complete={1})
    client = type("C", (), {"backfills": backfills})()
    progress = demo_lib.SeedProgress(pending={1, 2, 99}, started=0.0, interval=5)
    assert progress.check(client, now=10) is False and progress.pending == {2}  # 99 was deleted: nothing to wait for
    assert progress.check(client, now=12) is False and backfills.asked == 3  # within the interval: not asked
    backfills.failing = True
    assert progress.check(client, now=20) is False and progress.pending == {2}  # asked again next time
    backfills.failing, backfills.complete = False, {1, 2}
    assert progress.check(client, now=30) is True and progress.done
    assert progress.check(client, now=40) is False  # said once


class FakeRunning:
    """What the demo command needs of a RunningAirflow; ``supervise`` plays the given script of answers."""

    def __init__(self, home: Path, answers: list) -> None:
        self.url, self.admin, self.passwords = "http://127.0.0.1:1", ("admin", "pw"), {"viewer": "vw"}
        self.spec = AirflowSpec(home=home, dags_folder=home)
        self.answers, self.stopped = answers, False

    def supervise(self):
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def stop(self):
        self.stopped = True
        return []


def run_demo(tmp_path, monkeypatch, start) -> tuple:
    monkeypatch.setattr(launcher, "start_airflow", start)
    monkeypatch.setattr(launcher, "port_in_use", lambda port: False)
    monkeypatch.setattr(demo_lib, "configure", lambda client: None)
    result = CliRunner().invoke(cli, ["demo", "--no-seed", "--home", str(tmp_path / "home"), "--dags", str(tmp_path)],
                                env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    return result, result.output  # stdout and stderr, interleaved


def test_demo_reports_a_restart_and_a_component_that_keeps_dying_ends_it_in_one_message_without_traceback(
    tmp_path, monkeypatch
):
    log = tmp_path / "home" / "logs" / "scheduler.log"
    running = FakeRunning(tmp_path / "home", [
        [],
        [ComponentRestart("scheduler", -9, 1, 3, log)],
        LaunchError(f"Airflow scheduler exited (code 1) again after 3 restarts within 10 min; not restarting it. "
                    f"Last lines of {log}:\nObjectDeletedError"),
    ])
    monkeypatch.setattr("toolkit.cli.demo.time.sleep", lambda seconds: None)
    result, output = run_demo(tmp_path, monkeypatch, lambda spec: running)
    assert result.exit_code == 7, output
    assert "Traceback" not in output and isinstance(result.exception, SystemExit)
    assert "The demo is ready. Press Ctrl-C to stop." in output
    assert f"Airflow scheduler was killed by SIGKILL; restarted it (restart 1 of 3) — log: {log}" in output
    assert "Error: Airflow scheduler exited (code 1) again after 3 restarts" in output
    assert "ObjectDeletedError" in output and "The demo stopped; every component's log is in" in output
    assert running.stopped and output.index("Stopped.") < output.index("Error:")


def test_demo_boot_failure_is_one_message_and_exit_7(tmp_path, monkeypatch):
    def fail(spec):
        raise LaunchError("Airflow scheduler exited (code 1); last lines of x.log:\nboom")

    result, output = run_demo(tmp_path, monkeypatch, fail)
    assert result.exit_code == 7 and isinstance(result.exception, SystemExit)
    assert "Error: Airflow scheduler exited (code 1); last lines of x.log:\nboom" in output
    assert "Traceback" not in output


def test_demo_stops_cleanly_on_a_stop_signal(tmp_path, monkeypatch):
    running = FakeRunning(tmp_path / "home", [[], KeyboardInterrupt()])
    monkeypatch.setattr("toolkit.cli.demo.time.sleep", lambda seconds: None)
    result, output = run_demo(tmp_path, monkeypatch, lambda spec: running)
    assert result.exit_code == 0, output
    assert running.stopped and output.rstrip().endswith("Stopped.")


def test_demo_refuses_a_port_that_is_not_a_port(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--port", "0", "--dags", str(tmp_path)])
    assert result.exit_code == 2 and "--port 0 is not a TCP port" in result.output


def test_a_corrupt_launcher_state_file_is_named_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "afkit-launcher.json").write_text("{not json")
    monkeypatch.setattr(launcher, "port_in_use", lambda port: False)
    result = CliRunner().invoke(cli, ["demo", "--home", str(tmp_path / "home"), "--dags", str(tmp_path)])
    assert result.exit_code == 7 and isinstance(result.exception, SystemExit)
    assert f"Error: {tmp_path / 'home' / 'afkit-launcher.json'} cannot be read (" in result.output
    assert "delete it to generate new secrets and passwords" in result.output


def test_a_home_that_cannot_be_created_is_bad_input(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["demo", "--home", str(tmp_path / "file" / "home"), "--dags", str(tmp_path)])
    assert result.exit_code == 2 and f"--home {tmp_path / 'file' / 'home'} cannot be used" in result.output


def test_an_unwritable_profile_file_is_a_warning_and_the_demo_runs_on(tmp_path, monkeypatch):
    (tmp_path / "config").write_text("not a directory")  # so the profile file cannot be written
    running = FakeRunning(tmp_path / "home", [[], KeyboardInterrupt()])
    monkeypatch.setattr("toolkit.cli.demo.time.sleep", lambda seconds: None)
    monkeypatch.setattr(launcher, "start_airflow", lambda spec: running)
    monkeypatch.setattr(launcher, "port_in_use", lambda port: False)
    monkeypatch.setattr(demo_lib, "configure", lambda client: None)
    result = CliRunner().invoke(cli, ["demo", "--no-seed", "--home", str(tmp_path / "home"), "--dags", str(tmp_path)],
                                env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert result.exit_code == 0, result.output
    assert "No 'demo' profile (profile file " in result.output
    assert "try:  afkit --url http://127.0.0.1:1 --username admin status" in result.output
    assert "The demo is ready." in result.output and result.output.rstrip().endswith("Stopped.")


def test_a_restarted_component_counts_as_healthy_only_once_it_beats_after_the_restart():
    restart = datetime(2026, 12, 1, 9, 42, tzinfo=timezone.utc)
    old = {"status": "healthy", "latest_scheduler_heartbeat": "2026-12-01T09:41:50+00:00"}
    new = {"status": "healthy", "latest_scheduler_heartbeat": "2026-12-01T09:42:05.5+00:00"}
    assert launcher._beats(old, "scheduler", None)  # at boot, healthy is enough
    assert not launcher._beats(old, "scheduler", restart)  # the killed one's last beat, not yet too old
    assert launcher._beats(new, "scheduler", restart)
    assert launcher._beats({**new, "latest_scheduler_heartbeat": "2026-12-01T09:42:05"}, "scheduler", restart)
    assert not launcher._beats({**new, "status": "unhealthy"}, "scheduler", restart)
    assert not launcher._beats({"status": "healthy", "latest_scheduler_heartbeat": None}, "scheduler", restart)


def test_once_cleaning_up_began_a_stop_signal_is_only_noted():
    with launcher.StopSignals() as signals:
        signals.cleaning_up()  # e.g. stopping after a LaunchError: a Ctrl-C now must not break the stop off
        signal.raise_signal(signal.SIGTERM)
        assert signals.received == signal.SIGTERM
    with pytest.raises(KeyboardInterrupt), launcher.StopSignals():
        signal.raise_signal(signal.SIGINT)
