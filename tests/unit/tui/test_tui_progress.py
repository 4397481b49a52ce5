"""The backfill screen's progress against overlapping reads: what is shown is never older than what was shown.

A timer and an action both read progress in thread workers; on a busy machine a read that started before a pause
can finish after the read that saw the pause. Shown, it would make the screen say "running" again (and once made the
pause/resume key pause a second time instead of resuming).
"""

from __future__ import annotations

import asyncio
import threading

from tests.tui_fixtures import NOW, FixedSource, keep_notifications, notifications
from toolkit.services.backfills import DagProgress
from toolkit.tui.app import AfkitApp
from toolkit.tui.backfill import BackfillScreen


class SlowFirstRead(FixedSource):
    """The first progress read blocks until released and reports "running"; later reads report "paused"."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()
        self.reads = 0

    def progress(self, plan):
        self.reads += 1
        first = self.reads == 1
        if first:
            self.started.set()
            assert self.release.wait(30), "the test never released the first read"
        status = "running" if first else "paused"
        return [DagProgress(d.dag_id, d.run_count, 1, 0, 1, 0, (7,), status == "paused", status, 60.0)
                for d in plan.dags]


def test_a_read_that_started_before_the_pause_does_not_overwrite_it():
    async def scenario() -> None:
        source = SlowFirstRead()
        app = keep_notifications(AfkitApp(source, refresh_seconds=3600))
        async with app.run_test(size=(140, 42)) as pilot:
            screen = BackfillScreen(source, "daily_revenue", start="-120d", now=NOW)
            await pilot.pause()
            app.push_screen(screen)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("f", "enter")  # select the failed partitions, plan them
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert screen.plan is not None, notifications(app)
            screen.refresh_progress()  # the slow, older read
            for _ in range(300):
                if source.started.is_set():
                    break
                await pilot.pause(0.01)
            assert source.started.is_set()
            screen.refresh_progress()  # the newer read sees the pause …
            for _ in range(300):
                if screen.paused:
                    break
                await pilot.pause(0.01)
            assert screen.paused
            source.release.set()  # … and the older one finishes last
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert source.reads == 2
            assert screen.paused and screen.progress[0].status == "paused"

    asyncio.run(scenario())
