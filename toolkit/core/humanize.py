"""The one short human form of a duration, shared by every edge: ETAs, lags, ages, cadence intervals, Slack lines.

Instants read "2026-11-16 13:00 UTC" (:func:`format_moment`).

One convention everywhere, the largest two units, compact: "45s", "119s", "10m", "2h 05m", "3d 4h" (seconds up to
two minutes, minutes up to an hour, then hours and zero-padded minutes, then days and hours; a fraction of a second
only under 10 s, as "0.5s"; "unknown" for None). Intervals read "every 5m", "every 2h 05m".

Kept free of heavy imports: the terminal app paints first.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def format_duration(value: timedelta | float | None) -> str:
    """Short form of a duration (a ``timedelta`` or seconds): "45s", "119s", "10m", "2h 05m", "3d 4h"; None: "unknown".

    Whole seconds (rounded), except under 10 s where one decimal is kept when the value is not whole ("0.5s").
    Negative durations keep their sign ("-5m").
    """
    if value is None:
        return "unknown"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{sign}{round(seconds, 1):.1f}s"
    whole = int(round(seconds))
    if whole < 120:
        return f"{sign}{whole}s"
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    return f"{sign}{hours}h {minutes:02d}m" if hours else f"{sign}{minutes}m"


def format_moment(moment: datetime | None) -> str:
    """An instant as every text edge shows it, to the minute in UTC: "2026-11-16 13:00 UTC"; None: "-"."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"
