"""The plugin's binary COPY reader: PostgreSQL's fixed-layout rows of (asset id, timestamp) into numpy arrays."""

from __future__ import annotations

import struct
from datetime import datetime, timezone

import numpy as np
import pytest

from toolkit.plugin.cadence_db import CopyFormatError, _group, parse_binary_copy

PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def copy_stream(rows: list[tuple[int, datetime]], extension: bytes = b"") -> bytes:
    """What ``COPY … TO STDOUT WITH (FORMAT binary)`` sends for (int4, timestamptz) rows."""
    out = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">i", 0) + struct.pack(">i", len(extension)) + extension
    for asset_id, at in rows:
        micros = round((at - PG_EPOCH).total_seconds() * 1e6)
        out += struct.pack(">h", 2) + struct.pack(">ii", 4, asset_id) + struct.pack(">iq", 8, micros)
    return out + struct.pack(">h", -1)


def test_rows_become_one_ascending_series_per_asset():
    t = datetime(2026, 11, 21, 8, 30, 15, 250000, tzinfo=timezone.utc)
    data = copy_stream([(7, t), (3, t.replace(minute=0)), (7, t.replace(minute=5)), (3, t.replace(minute=10))],
                       extension=b"\x00\x01")
    ids, seconds = parse_binary_copy(data)
    assert ids.tolist() == [7, 3, 7, 3] and seconds[0] == pytest.approx(t.timestamp(), abs=1e-6)
    series = _group(ids, seconds)
    assert sorted(series) == [3, 7]
    assert np.diff(series[7]).tolist() == pytest.approx([(t - t.replace(minute=5)).total_seconds()])
    assert all((np.diff(s) >= 0).all() for s in series.values())


def test_empty_stream_and_unexpected_layouts():
    ids, seconds = parse_binary_copy(copy_stream([]))
    assert len(ids) == len(seconds) == 0 and _group(ids, seconds) == {}
    with pytest.raises(CopyFormatError, match="not a binary COPY"):
        parse_binary_copy(b"1,2\n")
    good = copy_stream([(1, datetime(2026, 1, 1, tzinfo=timezone.utc))])
    with pytest.raises(CopyFormatError, match="row size"):
        parse_binary_copy(good[:-3] + good[-2:])
    three_fields = good.replace(struct.pack(">h", 2), struct.pack(">h", 3), 1)
    with pytest.raises(CopyFormatError, match="row layout"):
        parse_binary_copy(three_fields)
