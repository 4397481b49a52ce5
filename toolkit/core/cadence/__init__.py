"""Cadence-change detection, pure: asset-event timestamps in, regime changes and a per-asset model out.

An asset changes cadence when the typical interval between its events moves persistently by about 2x or more
(faster or slower), when a schedule turns into irregular, event-driven arrivals, or when such arrivals turn into a
schedule. Operations noise is not a change: jitter, missed runs (a gap that is a whole multiple of the interval),
retries (a near-duplicate event just after the real one), backfill bursts and outages followed by the usual cadence,
slow drift, business-hours or weekday-only schedules and daylight-saving shifts.

How it works, on log-intervals (a 2x change is the same distance whatever the cadence):

1. Sort, drop exact duplicates, and drop retries: runs of at most 3 intervals shorter than 5% of the median of
   the previous ones.
2. Scan the intervals once. The current regime's baseline is the median and IQR of its last 24 clean intervals
   before the tested window (at least 8); an interval is out of band beyond 1.5x (wider for noisy regimes).
3. Verdicts on the last few intervals:
   - faster / slower: the last 4 all out of band on one side, their median moved by 1.8x or more. Isolated
     outliers never make 4 in a row, so missed runs, outages and the overnight or weekend gaps of business-hours
     schedules stay quiet. A faster run must also last half a baseline interval: a burst of re-runs seconds apart
     is held out of the baseline instead, until it proves to be a regime;
   - irregular: 4 of the last 6 out of band in different directions or sizes (at most two whole multiples excused
     as missed runs), or at most 2 in band with both short and long ones; a schedule's gaps are only long, a
     burst's intervals only short. Random arrivals missed there are caught when they have made the baseline
     itself dispersed, by judging everything since against the schedule of a little earlier;
   - regular: random arrivals (dispersed, with short intervals too) followed by 10 intervals within 1.6x of each
     other, or by a baseline that has become a schedule.
4. Place the change at its first event: for a step, where the intervals start to be nearer the new level than
   the old; for random arrivals or a new schedule, at the maximum-likelihood split between a schedule (normal
   jitter plus a few outliers) and exponential intervals. Not where it was detected.
5. A young change (under 8 intervals of the new kind, or under 4 old intervals in time) is retracted when the old
   cadence is back for 4 intervals in a row (6 for irregular arrivals, which fall in band by chance): it was a
   burst or a pause, and its intervals stay out of every baseline. A series that opens with a burst far faster
   than the schedule that follows (a catch-up backfill) has no change either.

Online use is the same call on a growing series: a 2x-10x step is reported 4-5 events after it happened.
Every window is first tested vectorised, against rolling statistics or, after a change or a burst, against the
regime's own baselines for the few dozen intervals ahead: the Python loop visits only the windows where a verdict
or check can fire, so 10,000 events take 5-10 ms.

Many assets at once (``describe_many``, epoch seconds): the series are grouped by length and screened together.
Bounds from sorted rows clear most of them (every baseline lies between order statistics of the intervals it is
drawn from); the scan's own first statistics, computed for the rest at once, clear those where no window is worth
a test; their models are then computed as whole columns. Only series with something to find take the loop above.
The models are exactly those of ``describe``: 10,000 assets x 100 events take about 0.1-0.2 s instead of 3 s.

Where each part lives (split by concern; each module's docstring says why it is a seam):

- ``api``: the public functions below, thin: argument checks, then one of
- ``series``: input, validation and cleaning (duplicates, retries) into sorted UTC seconds;
- ``scan``: the one-series scan and its state (current regime, young changes, where a change began);
- ``windows``: the vectorised window verdicts and the scanner's start, for one series or many rows;
- ``stats``: order statistics and likelihoods, bit for bit as numpy's;
- ``changes``: detections to ``CadenceChange`` values and one series' ``CadenceModel``;
- ``pattern``: regular / business-hours / irregular;
- ``batch``: many series at once (``describe_many``);
- ``model``: the result dataclasses; ``tuning``: every threshold.
"""

from toolkit.core.cadence.model import CadenceChange, CadenceModel

__all__ = ["CadenceChange", "CadenceModel", "describe", "describe_many", "describe_seconds", "detect_changes"]
_FUNCTIONS = ("describe", "describe_many", "describe_seconds", "detect_changes")


def __getattr__(name: str):
    """The detector's functions, imported on first use: a process that only reads reports back (the watcher on the
    plugin path) needs the dataclasses, not pandas and numpy, and starts a quarter of a second sooner."""
    if name in _FUNCTIONS:
        from toolkit.core.cadence import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
