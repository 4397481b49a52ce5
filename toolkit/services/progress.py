"""Progress of the long reads the REST path makes (one request per asset), told to whoever asked — a terminal's
progress bar — in neutral terms: what is being read, how many of how many are done."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (what is being read, done, total)


def tracked(items: Iterable[T], total: int, what: str, progress: Progress | None) -> Iterator[T]:
    """``items``, telling ``progress`` after each one (nothing when no one asked)."""
    if progress is not None:
        progress(what, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        if progress is not None:
            progress(what, done, total)
