"""RFM segment names from recency, frequency and monetary quintile scores (pure rules).

Each score runs from 1 (the lowest fifth of the members who bought) to 5 (the highest fifth):
R is 5 for the most recent buyers, F for the most purchase days, M for the highest average
spend per purchase day. A member's segment is read from the grid below by R (rows) and FM,
the mean of F and M rounded down (columns):

    R \\ FM   1             2                   3        4                 5
    5        New           Potential loyalist  Loyal    Champions         Champions
    4        New           Potential loyalist  Loyal    Champions         Champions
    3        Hibernating   Potential loyalist  Loyal    Loyal             Loyal
    2        Hibernating   Hibernating         At risk  At risk           Cannot lose them
    1        Lost          Lost                At risk  Cannot lose them  Cannot lose them
"""

from __future__ import annotations

CHAMPIONS = "Champions"
LOYAL = "Loyal"
POTENTIAL = "Potential loyalist"
NEW = "New"
AT_RISK = "At risk"
CANNOT_LOSE = "Cannot lose them"
HIBERNATING = "Hibernating"
LOST = "Lost"
SEGMENTS = (CHAMPIONS, LOYAL, POTENTIAL, NEW, AT_RISK, CANNOT_LOSE, HIBERNATING, LOST)
SCORES = range(1, 6)

# GRID[r] lists the segment for FM = 1 … 5.
GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: (NEW, POTENTIAL, LOYAL, CHAMPIONS, CHAMPIONS),
    4: (NEW, POTENTIAL, LOYAL, CHAMPIONS, CHAMPIONS),
    3: (HIBERNATING, POTENTIAL, LOYAL, LOYAL, LOYAL),
    2: (HIBERNATING, HIBERNATING, AT_RISK, AT_RISK, CANNOT_LOSE),
    1: (LOST, LOST, AT_RISK, CANNOT_LOSE, CANNOT_LOSE),
}


def fm_score(f: int, m: int) -> int:
    """The mean of the frequency and monetary scores, rounded down."""
    return (f + m) // 2


def segment(r: int, f: int, m: int) -> str:
    """The named segment of a member scored (r, f, m); raises ValueError outside 1..5."""
    if not all(score in SCORES for score in (r, f, m)):
        raise ValueError(f"RFM scores run from 1 to 5, got ({r}, {f}, {m})")
    return GRID[r][fm_score(f, m) - 1]


def segment_codes() -> dict[int, str]:
    """Segment by r * 10 + FM: the lookup the refresh job turns into one SQL CASE."""
    return {r * 10 + fm: name for r, row in GRID.items() for fm, name in enumerate(row, 1)}
