"""Short human forms of durations, shared by every edge (kept free of heavy imports: the terminal app paints first)."""

from __future__ import annotations

from datetime import timedelta


def human_interval(interval: timedelta) -> str:
    """Short human form of an interval, in its largest whole unit: "45 s", "5 min", "1.5 h", "1 d"."""
    seconds = interval.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{sign}{_amount(seconds / size)} {unit}"
    return f"{sign}{_amount(seconds)} s"


def _rounded(value: float) -> float:
    return round(value, 1) if value < 10 else float(round(value))


def _amount(value: float) -> str:
    text = f"{_rounded(value):.1f}" if value < 10 else f"{round(value):d}"
    return text.removesuffix(".0")
