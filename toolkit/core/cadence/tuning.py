"""Every threshold of the detector, in one place: the numbers the scan, the batch screen and the input cleaning share.

Its own module because the tuning is one decision read as a whole (each comment continues the one above it) and
because every other module of the package depends on it and on nothing else here: tuning a threshold is one edit,
and no module can keep a private copy of it.
"""

from __future__ import annotations

import math
from datetime import timezone

UTC = timezone.utc

# Input cleaning
RETRY_FRACTION = 0.05  # an interval under this fraction of the local typical one ends with a retry ...
RETRY_CONTEXT = 9  # ... "local typical" being the median of this many previous intervals ...
MAX_RETRY_RUN = 3  # ... unless more follow: a longer run of tiny intervals is a burst, for the scan to judge

# Baseline and band
MIN_REFERENCE = 8  # intervals needed before a regime's baseline is trusted
REFERENCE_SIZE = 24  # the baseline looks at this many recent intervals (so it follows slow drift)
LONG_REFERENCE_SIZE = 96  # ... and this many to tell whether a regime has been random all along
IQR_TO_SIGMA = 1.349
LOG_BAND = math.log(1.5)  # an interval at least this far (in log) from the baseline is out of band ...
SPREAD_BAND = 3.0  # ... or this many robust standard deviations, in a noisy regime
MULTIPLE_TOLERANCE = 0.15  # a gap within 15% of k x the interval (k >= 2) is k - 1 missed runs
LATE_TOLERANCE = 0.2  # a long and a short interval within 20% of two intervals together are a late run

# Steps
STEP_RUN = 4  # consecutive out-of-band intervals that make a step ...
LOG_STEP = math.log(1.8)  # ... whose median moved at least this far
FAST_MIN_SPAN = 0.5  # a faster run must last this many old intervals (a burst of re-runs lasts much less)
MILD_STEP = math.log(1.35)  # a milder step, in a regime that is a schedule: 4 of a window's 6 this far ...
MILD_SIDE = math.log(1.1)  # ... and all 6 at least this far, on the same side (jitter alone is never all one way)
MILD_NOISE = 2.0  # ... where "this far" is also this many of the regime's own robust standard deviations

# Irregular arrivals
IRREGULAR_WINDOW = 6  # intervals judged at once
IRREGULAR_MIN_OUT = 4  # out of band, not one step ...
LOG_IRREGULAR_RANGE = math.log(2.5)  # ... (mixed directions, or sizes this far apart)
EXCUSED_MULTIPLES = 2  # missed runs excused per window
MAX_IN_BAND_IRREGULAR = 2  # or: at most this many in band, with short and long ones
IRREGULAR_MIN_SPAN = 1.0  # the window lasts at least one old interval (not a burst)
MIN_REFERENCE_IRREGULAR = 16  # a short schedule-like stretch of random arrivals must not pass for a schedule
SCHEDULE_SPREAD = 0.35  # robust log-sd under which a regime is a schedule (+-20% jitter gives ~0.15) ...
IRREGULAR_SPREAD = 0.5  # ... and above which it is irregular (random arrivals: ~1.2)
RANDOM_SHORT_SHARE = 0.15  # random arrivals have ~37% of intervals under median / 1.5; schedules none
DRIFT_LAG = 18  # how far back the schedule (or the random arrivals) is looked for, once the baseline turned
DRIFT_MIN_OUT = 10  # of the DRIFT_LAG + 6 intervals since, out of band ...
DRIFT_MIN_FAST = 3  # ... and short
DRIFT_ON_SCHEDULE = 0.7  # share of the intervals since that must fit a new schedule

# New schedules
SCHEDULE_RUN = 10  # intervals in a row ...
LOG_TIGHT = math.log(1.6)  # ... within this factor of each other ...
SCHEDULE_MISSED_RUNS = 1  # ... once this many missed runs are folded back

# Locating a change
LOCATE_LOOKBACK = 24  # intervals searched back for the start of irregular arrivals
LOCATE_BEFORE_RUN = 8  # a step may have begun this many intervals before its out-of-band run
LOCATE_CAP = math.log(8)  # one interval's vote is capped, so an outage does not decide
MIN_SIGMA = 0.05  # jitter assumed at least (5%) for a schedule's likelihood ...
OUTLIER_SHARE = 0.05  # ... whose intervals include this share of missed runs and outages ...
OUTLIER_RANGE = 8.0  # ... spread over this many log units
IRREGULAR_MIN_SUFFIX = 3  # random arrivals last at least this many intervals

# Young changes
RETRACT_RUN = 4  # intervals in a row back in the old band that retract a young change
RETRACT_RUN_IRREGULAR = 6  # (random arrivals fall in band by chance)
YOUNG_COUNT = 8  # a change stays retractable until its regime has this many intervals of the new kind ...
YOUNG_SPAN = 4.0  # ... lasting this many old intervals in all
STARTUP_BURST_RATIO = 15.0  # an opening burst runs this much faster than the schedule that follows ...
STARTUP_BURST_SPAN = 3.0  # ... and lasts less than this many of its intervals

# Model
RECENT_INTERVALS = 200
CALENDAR_GAP = 2.5  # a gap this many typical intervals long may be a night or a weekend

FIRST_WINDOW_END = REFERENCE_SIZE + IRREGULAR_WINDOW - 1  # first interval whose rolling baseline is complete
NEVER = 1 << 62
FASTER, SLOWER, IRREGULAR = 1, 2, 4  # a window's verdicts, as bits
