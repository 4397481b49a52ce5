"""The public results: ``CadenceChange`` and ``CadenceModel``, plain frozen dataclasses.

Apart from how they are computed because they are what callers (services, the plugin, renderers, Slack) hold on
to: the one part of the package whose shape other code depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CadenceChange:
    """A persistent change of cadence; ``at`` is the first event of the new regime."""

    at: datetime  # UTC
    before: timedelta  # typical (median) interval of the old regime
    after: timedelta  # typical interval of the new regime, so far
    kind: str  # "faster" | "slower" | "irregular" (random arrivals) | "regular" (random arrivals became a schedule)
    ratio: float  # after / before
    index: int  # position of ``at`` among the sorted timestamps without exact duplicates
    detected_after: int  # events of the new regime it took to detect the change
    events_since: int  # events of the new regime seen (up to the next change)
    confirmed: bool  # False while the new regime may still turn out to be a burst or a pause


@dataclass(frozen=True)
class CadenceModel:
    """What an asset's event history says about its cadence."""

    events: int  # events after dropping duplicates and retries
    typical_interval: timedelta | None  # median interval of the current regime
    spread: float | None  # IQR / median of the current regime's intervals
    pattern: str  # "regular" | "business-hours" | "irregular" | "unknown" (too few events)
    last_change: CadenceChange | None
    changes: tuple[CadenceChange, ...]
    intervals: tuple[float, ...]  # seconds between the most recent events (at most 200), oldest first
    last_event: datetime | None = None  # UTC
    since_last_event: timedelta | None = None  # now - last event, when ``now`` was given
