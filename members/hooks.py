"""What other packages add to a member's profile operations: merge steps, timeline sources,
export sections, erase steps, and the points the member's queued receipts will earn.

The profile store cannot import the ledger or the receipts (they import it), yet a merge moves
them, the timeline lists them, an export includes them and an erasure must treat them. Each
package registers its part here from its `init_app`, as outbox handlers are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

# (session, source member id, target member id) -> rows moved
MergeStep = Callable[[Session, int, int], int]
# (session, member id) -> a JSON-ready section of the member's export
ExportSection = Callable[[Session, int], Any]
# (session, member id, when) -> rows changed
EraseStep = Callable[[Session, int, datetime], int]
# (session, member id) -> points the member's receipts not yet processed will earn
PendingPoints = Callable[[Session, int], int]


@dataclass(frozen=True)
class TimelineEntry:
    """One event in a member's history. `source` and `ref` (the row's id there) order entries
    that happened at the same instant and page through them."""

    at: datetime
    kind: str
    summary: str
    detail: dict[str, Any]
    source: str
    ref: int

    @property
    def key(self) -> tuple[datetime, str, int]:
        return (self.at, self.source, self.ref)


@dataclass(frozen=True)
class TimelineWindow:
    """What one source should return: the member's entries older than a page boundary,
    newest first, at most `limit`. `private` is true for the member themself and admins."""

    member_id: int
    limit: int
    private: bool
    before_at: datetime | None = None
    # at `before_at` exactly, only rows whose id is below this (0: none, None: all)
    below_ref_at_boundary: int | None = None

    def clause(self, at: Any, ref: Any) -> ColumnElement[bool] | None:
        """The SQL condition on a source's time and id columns, or None on the first page."""
        if self.before_at is None:
            return None
        if self.below_ref_at_boundary is None:
            return at <= self.before_at
        return or_(
            at < self.before_at, and_(at == self.before_at, ref < self.below_ref_at_boundary)
        )

    def page(self, stmt: Select[Any], member: Any, at: Any, ref: Any) -> Select[Any]:
        """`stmt` narrowed to this window: the member's rows (`member` is the column naming
        them) past the page boundary by their `at` and `ref` columns, newest first, at most
        `limit`."""
        # the audit log names its subjects by a string id
        member_id = str(self.member_id) if member.type.python_type is str else self.member_id
        stmt = stmt.where(member == member_id)
        if (clause := self.clause(at, ref)) is not None:
            stmt = stmt.where(clause)
        return stmt.order_by(at.desc(), ref.desc()).limit(self.limit)


# (session, window) -> entries of one source, newest first
TimelineSource = Callable[[Session, TimelineWindow], list[TimelineEntry]]


@dataclass
class ProfileHooks:
    merge_steps: dict[str, MergeStep] = field(default_factory=dict)
    timeline_sources: dict[str, TimelineSource] = field(default_factory=dict)
    export_sections: dict[str, ExportSection] = field(default_factory=dict)
    erase_steps: dict[str, EraseStep] = field(default_factory=dict)
    pending_points: PendingPoints = field(default=lambda _session, _member_id: 0)


def hooks(app: Flask) -> ProfileHooks:
    return app.extensions.setdefault("loyalty.profile_hooks", ProfileHooks())


def register_merge_step(app: Flask, name: str, step: MergeStep) -> None:
    """A step of every merge: move the source member's rows of a kind to the target."""
    hooks(app).merge_steps[name] = step


def register_timeline_source(app: Flask, name: str, source: TimelineSource) -> None:
    hooks(app).timeline_sources[name] = source


def register_export_section(app: Flask, name: str, section: ExportSection) -> None:
    hooks(app).export_sections[name] = section


def register_erase_step(app: Flask, name: str, step: EraseStep) -> None:
    """A step of every erasure: anonymise or close what the package holds on the member."""
    hooks(app).erase_steps[name] = step


def register_pending_points(app: Flask, source: PendingPoints) -> None:
    """Where a member's pending points come from (the queued receipts)."""
    hooks(app).pending_points = source
