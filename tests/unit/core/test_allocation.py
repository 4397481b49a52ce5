"""The collector pause of a board's build holds while any build is under way, in any thread, and leaves the
collector as it found it."""

from __future__ import annotations

import gc
import threading

from toolkit.core.allocation import allocation_burst


def test_overlapping_bursts_in_two_threads_resume_the_collector_only_when_the_last_ends():
    assert gc.isenabled()
    first_in, second_may_end = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with allocation_burst():
            first_in.set()
            second_may_end.wait(30)
            seen.append(gc.isenabled())  # the second ended before: still paused for this one

    worker = threading.Thread(target=first)
    worker.start()
    assert first_in.wait(30)
    with allocation_burst():
        assert not gc.isenabled()
    second_may_end.set()
    worker.join(30)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused():
    gc.disable()
    try:
        with allocation_burst():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
