"""The one JSON format of every ``--json`` (``toolkit.render.to_json`` / ``to_json_line``): strict JSON that every
parser reads, instants with their offset, dataclasses as objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from toolkit.render import to_json, to_json_line

AT = datetime(2026, 11, 21, 9, 30, tzinfo=timezone(timedelta(hours=1)))


@dataclass
class Row:
    name: str
    at: datetime
    ids: tuple[int, ...]


def strict(text: str):
    def refuse(constant: str):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_instants_tuples_sets_and_dataclasses_are_encoded():
    data = {"row": Row("a", AT, (1, 2)), "set": {"b", "a"}, "rows": (Row("b", AT, ()),)}
    assert strict(to_json(data)) == {"row": {"name": "a", "at": "2026-11-21T09:30:00+01:00", "ids": [1, 2]},
                                     "set": ["a", "b"], "rows": [{"name": "b", "at": "2026-11-21T09:30:00+01:00",
                                                                  "ids": []}]}


def test_nan_and_infinity_become_null_so_every_parser_reads_the_result():
    assert strict(to_json({"eta": float("nan"), "deep": [{"x": float("inf")}], "ok": 1.5})) == {
        "eta": None, "deep": [{"x": None}], "ok": 1.5}


def test_a_document_is_indented_and_a_line_is_one_line():
    data = {"a": [1, 2], "text": "late … ✓"}
    assert to_json(data).startswith('{\n  "a": [')
    line = to_json_line(data)
    assert "\n" not in line and strict(line) == data and line.isascii()
