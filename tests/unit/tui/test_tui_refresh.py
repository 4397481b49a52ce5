"""The app's periodic refresh against a slow source: one read at a time, so a slow Airflow is not buried under reads
that each wait out the timeout (a restarted api-server in CI never caught up with refreshes 2 s apart)."""

from __future__ import annotations

import asyncio
import threading

from tests.tui_fixtures import FixedSource
from toolkit.tui.app import AfkitApp
from toolkit.tui.source import Snapshot
from toolkit.tui.threads import OneRead


class SlowSource(FixedSource):
    """Holds every snapshot until released; counts the reads started and the most ever running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self.started += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.release.wait(timeout=30)
            return super().snapshot()
        finally:
            with self._lock:
                self.running -= 1


class CountedTicks(OneRead):
    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0

    def tick(self, start) -> None:  # noqa: ANN001 - OneRead's signature
        self.ticks += 1
        super().tick(start)


async def until(pilot, predicate, what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"waited {timeout:.0f}s for {what}"
        await pilot.pause(0.02)


def test_ticks_that_come_while_a_refresh_is_reading_are_skipped_and_a_refresh_asked_for_is_not():
    async def scenario() -> None:
        source = SlowSource()
        app = AfkitApp(source, refresh_seconds=0.05)
        app._refreshes = ticks = CountedTicks()
        async with app.run_test(size=(140, 42)) as pilot:
            await until(pilot, lambda: source.started == 1, "the first refresh to start")
            await until(pilot, lambda: ticks.ticks >= 10, "ten ticks of the refresh timer")
            assert (source.started, source.most_at_once) == (1, 1)  # ten ticks, no read beside the held one

            await pilot.press("r")  # the user's own refresh is not a tick: it is read
            await until(pilot, lambda: source.started == 2, "the refresh asked for with r")

            source.release.set()
            await until(pilot, lambda: source.running == 0 and app.snapshot.dags, "the held refreshes to be shown")
            later = source.started
            await until(pilot, lambda: source.started > later, "the timer to refresh again once the reads are done")
            assert source.most_at_once == 2, source.most_at_once  # the held read and the one asked for, no more

    asyncio.run(scenario())
