"""Segment refresh as a job (the periodic task "refresh_segments" and `flask segments
refresh`): each segment in a unit of work of its own."""

from __future__ import annotations

from datetime import datetime

from loyalty.db import utcnow
from loyalty.unit_of_work import AnySession, unit_of_work
from members.segments.service import UnknownSegment, refresh_segment, segment_ids


def refresh_segments(
    session: AnySession, *, timezone: str, now: datetime | None = None
) -> dict[str, int]:
    """Refresh every segment, each committed on its own; the counts of segments refreshed and
    of members who entered and left."""
    at = now or utcnow()
    with unit_of_work(session):
        ids = segment_ids(session)
    results = []
    for segment_id in ids:
        try:
            with unit_of_work(session):
                results.append(refresh_segment(session, segment_id, at, timezone))
        except UnknownSegment:  # deleted since the list was read
            continue
    return {
        "segments": len(results),
        "entered": sum(r.entered for r in results),
        "left": sum(r.left for r in results),
    }
