"""A schema library's refusal, said as afkit says it: the field path, what was expected, what was found.

msgspec validates a decoded document against typed structs and reports the first problem as ``Expected `int` >= 1 -
at `$.options.max_active_runs```. :func:`schema_problem` turns that into ``$.options.max_active_runs``, ``expected
int >= 1, got -5``: it names the value found (cut short, so a hostile file cannot put megabytes into a message), the
key of an object keyed by names (msgspec writes ``[...]``), a close match for an unknown field, and the allowed
values of a choice. The wording follows JSON (null, true, an array, an object) because the documents are JSON.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from typing import Any, Iterator

import msgspec

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `(?P<key>key` in `)?(?P<path>\$[^`]*)`)?$", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`(?P<rule>.*?)(?:, got `[^`]+`)?$", re.DOTALL)
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")
MAX_SHOWN = 40  # characters of a value quoted in a message


def shown(value: Any) -> str:
    """A JSON value as a message quotes it: ``null``, ``true``, ``-5``, ``NaN``, ``'text'`` (cut short), ``an
    array``, ``an object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a number of more than 30 digits"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"
    if isinstance(value, (list, tuple)):
        return "an array"
    return "an object"


def member(path: str, key: str) -> str:
    """The path of ``key`` inside the object at ``path``: ``$.pools.warehouse``, or ``$.pools['a b']`` for a key that
    is not a plain word (long ones cut short)."""
    if _SIMPLE_KEY.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{shown(key)}]"


def schema_problem(error: msgspec.ValidationError, data: Any, root: Any,
                   words: dict[str, str] | None = None) -> tuple[str, str]:
    """``(path, problem)`` for ``error``, raised converting ``data`` to the type ``root``.

    ``words`` names regular expressions of the schema in words ("a DAG id: letters, digits …"), for the messages.
    """
    match = _AT.match(str(error))
    problem, at_key = match["problem"], bool(match["key"])
    segments = [(m[1], int(m[2]) if m[2] else None) for m in _SEGMENT.finditer((match["path"] or "$")[1:])]
    path, value, kind = _follow(data, root, segments, problem if at_key else None)
    if problem.startswith("Object contains unknown field `"):
        name = problem[len("Object contains unknown field `"):-1]
        known = _field_names(kind)
        close = difflib.get_close_matches(name, known, n=1) if len(name) <= 100 else []
        return member(path, name), "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if problem.startswith("Object missing required field `"):
        return member(path, problem[len("Object missing required field `"):-1]), "missing (a required field)"
    if at_key:
        return path, f"{_expected(problem, words)} as a key, got {shown(value)}"
    if isinstance(value, float) and not math.isfinite(value) and problem.startswith("Expected `float"):
        return path, f"expected a finite number, got {shown(value)}"  # NaN fails every bound, Infinity the largest
    if problem.startswith("Invalid enum value"):
        allowed = typing.get_args(_bare(kind))
        if allowed:
            choices = " or ".join(shown(v) for v in allowed) if len(allowed) <= 2 else (
                "one of " + ", ".join(shown(v) for v in allowed))
            return path, f"expected {choices}, got {shown(value)}"
    if problem.startswith("Invalid RFC3339 encoded datetime"):
        return path, f"expected an RFC 3339 date-time with a time zone, got {shown(value)}"
    if problem.startswith("Expected `datetime` with a timezone"):
        return path, f"expected a date-time with a time zone, got {shown(value)}"
    if problem.startswith("Expected `str` of length") and isinstance(value, str) and value:
        return path, f"{_expected(problem, words)}, got {len(value)} characters"
    return path, f"{_expected(problem, words)}, got {shown(value)}"


def _expected(problem: str, words: dict[str, str] | None) -> str:
    """``Expected `str` matching regex '…'`` -> ``expected <the words for that regex>``; backticks dropped."""
    found = _EXPECTED.match(problem)
    if not found:
        return problem[:1].lower() + problem[1:].replace("`", "")
    rule = found["rule"]
    regex = re.fullmatch(r" matching regex (.*)", rule, re.DOTALL)
    if regex:  # msgspec quotes the pattern as repr() does
        named = {repr(pattern): said for pattern, said in (words or {}).items()}
        return f"expected {named.get(regex[1], found['want'] + ' matching ' + regex[1])}"
    return f"expected {found['want']}{rule}"


def _follow(data: Any, root: Any, segments: list[tuple[str | None, int | None]],
            key_problem: str | None) -> tuple[str, Any, Any]:
    """Walk ``data`` and the type ``root`` along msgspec's path: the path as afkit writes it (names for ``[...]``),
    the value found there and its type. Where msgspec only says "one of this object's entries", the first entry that
    does not convert is the one it refused (it checks them in order)."""
    path, value, kind = "$", data, root
    for name, index in segments:
        if name is not None:
            kind = _field_type(kind, name)
            value = value.get(name) if isinstance(value, dict) else None
            path = member(path, name)
        elif index is not None:
            kind = _item_type(kind)
            value = value[index] if isinstance(value, list) and index < len(value) else None
            path = f"{path}[{index}]"
        else:  # [...]: an entry of an object keyed by names
            key_type, kind = _entry_types(kind)
            key, value = _first_refused(value, key_type, kind)
            path = member(path, key) if isinstance(key, str) else path
    if key_problem is not None and isinstance(value, dict):  # the problem is with a key of this object
        key_type, _ = _entry_types(kind)
        key, _ = _first_refused(value, key_type, None)
        return path, key, kind
    return path, value, kind


def _first_refused(entries: Any, key_type: Any, value_type: Any) -> tuple[Any, Any]:
    if not isinstance(entries, dict):
        return None, None
    for key, item in entries.items():
        for target, checked in ((key_type, key), (value_type, item)):
            if target is None:
                continue
            try:
                msgspec.convert(checked, target)
            except msgspec.ValidationError:
                return key, item
    return None, None


def _bare(kind: Any) -> Any:
    """The type without its constraints and without ``None``/``UNSET`` alternatives (one type is left in a schema)."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif typing.get_origin(kind) in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(kind) if a not in (type(None), msgspec.UnsetType)]
            if len(rest) != 1:
                return kind
            kind = rest[0]
        else:
            return kind


def _fields(kind: Any) -> Iterator[msgspec.structs.FieldInfo]:
    kind = _bare(kind)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        yield from msgspec.structs.fields(kind)


def _field_names(kind: Any) -> list[str]:
    return [f.encode_name for f in _fields(kind)]


def _field_type(kind: Any, name: str) -> Any:
    return next((f.type for f in _fields(kind) if f.encode_name == name), None)


def _item_type(kind: Any) -> Any:
    args = typing.get_args(_bare(kind))
    return args[0] if args else None


def _entry_types(kind: Any) -> tuple[Any, Any]:
    args = typing.get_args(_bare(kind))
    return (args[0], args[1]) if len(args) == 2 else (None, None)
