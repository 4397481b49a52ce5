"""Issue 7 benchmark: time to first paint of ``afkit tui`` and redraw time of a 3,650-partition grid.

1. First paint, excluding network: the real ``afkit tui`` command in a pseudo-terminal (160×45), pointed at a closed
   loopback port so no answer ever comes; the clock runs from spawning the process until the terminal shows the
   app's tabs. Anchors in the same run: ``python -c pass`` and ``afkit --help`` (interpreter and CLI start-up).
2. Grid redraw: the backfill screen of a daily DAG with 3,650 partitions (ten years, fixed data, headless terminal
   140×42). For each selection change (shift+arrow extending a range, select failed, select all) it times the key
   press until the screen has been composed again, and separately the drawing of *every* grid row (the worst case:
   a terminal tall enough to show the whole grid).

Goals (issue 7): first paint under 1 s, redraw under 100 ms.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual._compositor import CompositorUpdate  # noqa: E402

from tests.tui_fixtures import NOW, FixedSource  # noqa: E402
from toolkit.tui.app import AfkitApp  # noqa: E402
from toolkit.tui.backfill import BackfillScreen  # noqa: E402
from toolkit.tui.grid import PartitionGrid  # noqa: E402

AFKIT = str(Path(sys.executable).with_name("afkit"))
RUNS = 7


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: connections are refused


def time_in_pty(argv: list[str], marker: bytes | None, env: dict[str, str]) -> float:
    """Seconds from spawn until ``marker`` appears on the terminal (or the process exits when marker is None)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                raise RuntimeError(f"{argv[0]}: nothing on the terminal for 10 s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the process closed the terminal
                chunk = b""
            if not chunk:
                if marker is None:
                    proc.wait()
                    return time.perf_counter() - start
                raise RuntimeError(f"{argv[0]} exited before painting: {seen[-300:]!r}")
            seen += chunk
            if marker is not None and marker in seen:
                return time.perf_counter() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def first_paint() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "XDG_CONFIG_HOME": home, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "45"}
        env.pop("AFKIT_PROFILE", None)
        url = f"http://127.0.0.1:{closed_port()}"
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "afkit --help": ([AFKIT, "--help"], None),
            "afkit tui (first paint)": ([AFKIT, "--url", url, "--username", "admin", "--password", "x", "tui"],
                                        b"Freshness"),
        }
        figures: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(RUNS):
            for name, (argv, marker) in commands.items():
                figures[name].append(time_in_pty(argv, marker, env))
        return figures


async def grid_redraws() -> dict[str, list[float]]:
    """Key event in, frame out: the time from handing a key to the app until the frame showing its effect has been
    composed and serialised for the terminal (the headless driver only skips the final write)."""
    app = AfkitApp(FixedSource(3650), refresh_seconds=3600)
    names = ("arrow (cursor moves)", "shift+arrow (range grows)", "select failed", "select all", "clear selection")
    figures: dict[str, list[float]] = {name: [] for name in names}
    figures["draw every row (121 rows)"] = []
    frames: list[tuple[float, frozenset, int]] = []
    async with app.run_test(size=(140, 42)) as pilot:
        await pilot.pause()
        app.push_screen(BackfillScreen(app.source, "daily_revenue", start="-3660d", now=NOW))
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        grid = app.screen.query_one(PartitionGrid)
        assert len(grid.cells) == 3650, len(grid.cells)
        display = app._display

        def timed_display(screen, renderable) -> None:
            display(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # what a real terminal driver would write
            frames.append((time.perf_counter(), grid.selection.chosen, grid.selection.cursor))

        app._display = timed_display

        async def timed(key: str) -> float:
            before = (grid.selection.chosen, grid.selection.cursor)
            frames.clear()
            start = time.perf_counter()
            app._driver.send_message(events.Key(key, None))
            deadline = start + 2
            while time.perf_counter() < deadline:
                changed = [t for t, chosen, cursor in frames if (chosen, cursor) != before]
                if changed:
                    return changed[0] - start
                await asyncio.sleep(0.0005)
            raise RuntimeError(f"no frame after {key!r} within 2 s")

        async def settle() -> None:
            await pilot.pause(0.05)

        for _ in range(30):
            figures["arrow (cursor moves)"].append(await timed("left"))
            await settle()
        for _ in range(40):
            figures["shift+arrow (range grows)"].append(await timed("shift+up"))
            await settle()
        await timed("u")
        await settle()
        for _ in range(20):  # from an empty selection each time
            figures["select all"].append(await timed("a"))
            await settle()
            figures["clear selection"].append(await timed("u"))
            await settle()
            figures["select failed"].append(await timed("f"))
            await settle()
            await timed("u")
            await settle()
        for _ in range(20):
            start = time.perf_counter()
            for row in range(len(grid.grid.rows)):
                grid.row_segments(row)
            figures["draw every row (121 rows)"].append(time.perf_counter() - start)
    return figures


def line(name: str, values: list[float], goal: float | None = None) -> str:
    med = statistics.median(values)
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) >= 2 else values[0]
    text = (f"  {name:<30} median {med * 1000:8.1f} ms   p95 {p95 * 1000:8.1f}   max {max(values) * 1000:8.1f}"
            f"   (n={len(values)})")
    if goal is not None:
        text += f"   goal < {goal * 1000:.0f} ms: {'met' if med < goal else 'MISSED'}"
    return text


def main() -> None:
    print(f"afkit tui benchmark ({os.cpu_count()} cores), {RUNS} runs of each start-up")
    paint = first_paint()
    print("\nStart-up in a 160×45 pseudo-terminal (Airflow unreachable: no network in the figure)")
    print(line("python -c pass", paint["python -c pass"]))
    print(line("afkit --help", paint["afkit --help"]))
    print(line("afkit tui (first paint)", paint["afkit tui (first paint)"], goal=1.0))
    redraw = asyncio.run(grid_redraws())
    print("\nGrid of 3,650 daily partitions (ten years), 140×42: key event to the frame showing it (composed and "
          "serialised)")
    for name in ("arrow (cursor moves)", "shift+arrow (range grows)", "select failed", "select all",
                 "clear selection"):
        print(line(name, redraw[name], goal=0.1))
    print(line("draw every row (121 rows)", redraw["draw every row (121 rows)"], goal=0.1))


if __name__ == "__main__":
    main()
