"""Keeping a loaded terminal app out of the cyclic garbage collector's way (shared by its screens)."""

from __future__ import annotations

import gc


def calm_garbage_collector() -> None:
    """Move what exists after the first paint (Textual, the widgets, loaded data) out of the collector's reach.

    A full collection walks every tracked object; with a ten-year partition grid loaded that took ~100 ms and showed as
    a stutter on an occasional key press (benchmarks/tui_benchmark.py). Frozen objects are still freed by reference
    counting; only cycles among them wait until the app exits.
    """
    gc.collect()
    gc.freeze()
