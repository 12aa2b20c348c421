"""Whether a campaign added spend: the difference in spend per member between its treated and
held-out members with Welch's 95 % interval, and the incremental return on its cost (pure).

Groups smaller than `MIN_GROUP` give no interval: with fewer members the interval is too wide
to tell a campaign from chance, and the report says so instead of showing a number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from scipy import stats

MIN_GROUP = 30  # members in each of the treated and held-out groups
LEVEL = 0.95
NOT_ENOUGH = "not enough data"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def scaled(self, by: float) -> Interval:
        return Interval(self.low * by, self.high * by)


def welch_interval(treated: Sequence[float], holdout: Sequence[float]) -> Interval | None:
    """Welch's 95 % interval for mean(treated) − mean(holdout), unequal variances; None when a
    group has fewer than MIN_GROUP members."""
    if len(treated) < MIN_GROUP or len(holdout) < MIN_GROUP:
        return None
    diff = statistics.fmean(treated) - statistics.fmean(holdout)
    a = statistics.variance(treated) / len(treated)
    b = statistics.variance(holdout) / len(holdout)
    if a + b == 0:
        return Interval(diff, diff)
    df = (a + b) ** 2 / (a * a / (len(treated) - 1) + b * b / (len(holdout) - 1))
    margin = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * math.sqrt(a + b)
    return Interval(diff - margin, diff + margin)


def incremental_roi(incremental_minor: int, margin: Decimal, cost_minor: int) -> Decimal | None:
    """(incremental spend × margin − cost) ÷ cost; None for a campaign that cost nothing."""
    if cost_minor <= 0:
        return None
    return (Decimal(incremental_minor) * margin - cost_minor) / cost_minor
