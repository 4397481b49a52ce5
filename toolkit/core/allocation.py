"""Building a large value without the cyclic garbage collector running through it."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def allocation_burst() -> Iterator[None]:
    """Pause the cyclic garbage collector while a board is built or read back: its tens of thousands of short-lived
    objects otherwise trigger full collections midway (measured in the plugin: 0.6 s requests became 1.0 s every
    other time; reading back 20,000 SLA statuses, 0.47 s became 0.30 s). Nothing is leaked: the objects are freed by
    reference counting, and the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
