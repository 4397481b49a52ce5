"""The one duration format: ETAs, lags, ages and cadence intervals all read the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from toolkit.core.humanize import format_duration


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "unknown"),
        (5, "5s"),
        (timedelta(seconds=45), "45s"),
        (119, "119s"),
        (timedelta(minutes=5), "5m"),
        (600, "10m"),
        (timedelta(minutes=90), "1h 30m"),
        (timedelta(hours=1), "1h 00m"),
        (3 * 3600 + 60, "3h 01m"),
        (timedelta(seconds=7500), "2h 05m"),
        (timedelta(hours=23), "23h 00m"),
        (timedelta(days=1), "1d 0h"),
        (90000, "1d 1h"),
        (timedelta(seconds=277200), "3d 5h"),
        (timedelta(days=14), "14d 0h"),
        (timedelta(seconds=0.5), "0.5s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_one_format_for_every_duration(value, text: str) -> None:
    assert format_duration(value) == text
