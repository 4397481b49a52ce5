"""The public functions: ``detect_changes``, ``describe``, ``describe_seconds``, ``describe_many``.

Thin on purpose: they check arguments and hand over to ``series`` (input), ``changes`` (one model) or ``batch``
(many); the package's ``__init__`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime

import numpy as np

from toolkit.core.cadence.batch import _describe_many
from toolkit.core.cadence.changes import _analyse, _model
from toolkit.core.cadence.model import CadenceChange, CadenceModel
from toolkit.core.cadence.series import _prepare, _series_of_microseconds, _whole_microseconds


def detect_changes(timestamps: Iterable[datetime]) -> list[CadenceChange]:
    """Persistent cadence changes in a series of timezone-aware event timestamps (any order), oldest first.

    Raises ValueError for naive datetimes or values that are not datetimes. Fewer than 15 events: no change.
    """
    changes, _ = _analyse(_prepare(timestamps))
    return changes


def describe(timestamps: Iterable[datetime], *, now: datetime | None = None) -> CadenceModel:
    """Cadence model of one asset: its current regime, pattern, changes and recent intervals."""
    _check_aware(now)
    return _model(_prepare(timestamps), now)


def describe_seconds(seconds: np.ndarray, *, now: datetime | None = None) -> CadenceModel:
    """``describe`` of epoch seconds (UTC, any order), without building a datetime per event.

    Instants are taken to the microsecond, as datetimes hold them: the model equals ``describe`` of the same
    instants as timezone-aware datetimes. Raises ValueError for values that are not finite.
    """
    _check_aware(now)
    return _model(_series_of_microseconds(_whole_microseconds(np.asarray(seconds, dtype=float))), now)


def describe_many(series: Mapping[Hashable, np.ndarray], *,
                  now: datetime | None = None) -> dict[Hashable, CadenceModel]:
    """``describe_seconds`` of many assets' event times at once, in a fraction of the time of one call each.

    Each value is a 1-D array of epoch seconds (UTC), ascending or not, possibly empty or with duplicates; the
    models come back under the same keys, in the same order, each equal to ``describe_seconds`` of its series.
    All series are first screened together (numpy over all of them); only those where the scan could find
    anything (a change, a retry, a burst, a noisy stretch) take the one-series path.
    """
    _check_aware(now)
    return _describe_many(series, now)


def _check_aware(now: datetime | None) -> None:
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise ValueError(f"now must be timezone-aware; {now.isoformat()} is naive")
