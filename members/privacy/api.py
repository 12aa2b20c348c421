"""One customer, one profile: merge, timeline, and the member's PDPA export and erasure."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from loyalty.auth import check_member_scope, principal, require
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from members import service
from members import timeline as timelines
from members.api import member_view
from members.hooks import hooks
from members.privacy import merge, pdpa
from members.privacy.schemas import (
    ErasedSchema,
    EraseSchema,
    ExportSchema,
    MergedSchema,
    MergeSchema,
    TimelinePageSchema,
    TimelineQuerySchema,
)

blp = Blueprint(
    "member_profiles", __name__, url_prefix="/api/v1", description="Member merge, timeline, PDPA"
)
SECURITY = [{"bearerAuth": []}]
M = "/members/<int:member_id>"


@blp.route(f"{M}/merge", methods=["POST"])
@idempotent
@require("admin")
@blp.arguments(MergeSchema)
@blp.response(200, MergedSchema)
@blp.doc(security=SECURITY)
def merge_member(body, member_id):
    """Merge another member record (`from_member_id`) into this one: its points, ledger,
    receipts, cards, consents and history move here; it is left with status "merged"."""
    merged = merge.merge_members(
        db.session,
        member_id,
        body["from_member_id"],
        reason=body["reason"],
        actor=principal().label,
        steps=hooks(current_app).merge_steps,
        now=utcnow(),
        timezone=current_app.config["TIMEZONE"],
    )
    return {
        "member": member_view(service.get_member(db.session, member_id)),
        "from_member_id": merged.source_id,
        "moved": merged.moved,
        "audit_id": merged.audit_id,
    }


@blp.route(f"{M}/timeline")
@require("shopper", "cashier", "marketer", "admin")
@blp.arguments(TimelineQuerySchema, location="query")
@blp.response(200, TimelinePageSchema)
@blp.doc(security=SECURITY)
def member_timeline(query, member_id):
    """Purchases, points, campaigns, tier changes and messages, newest first, paged by the
    `next` cursor. Message texts and voucher codes are shown to the member and admins only."""
    check_member_scope(member_id)
    service.get_member(db.session, member_id)
    page = timelines.timeline(
        db.session,
        member_id,
        hooks(current_app).timeline_sources,
        limit=query["limit"],
        before=query.get("before"),
        private=principal().role in ("shopper", "admin"),
    )
    return {"entries": page.entries, "next": page.next_cursor}


@blp.route(f"{M}/export")
@require("shopper", "admin")
@blp.response(200, ExportSchema)
@blp.doc(security=SECURITY)
def member_export(member_id):
    """Everything the program holds on the member, as JSON (PDPA access and portability)."""
    check_member_scope(member_id)
    return pdpa.export_member(db.session, member_id, hooks(current_app).export_sections, utcnow())


@blp.route(f"{M}/erase", methods=["POST"])
@idempotent
@require("admin")
@blp.arguments(EraseSchema)
@blp.response(200, ErasedSchema)
@blp.doc(security=SECURITY)
def erase_member(body, member_id):
    """Erase the member's personal data (PDPA): anonymised, cards blocked, consents withdrawn,
    points forfeited; the ledger and receipts stay. Again on an erased member: no change."""
    member, _erased_now = pdpa.erase_member(
        db.session,
        member_id,
        reason=body["reason"],
        actor=principal().label,
        steps=hooks(current_app).erase_steps,
        now=utcnow(),
    )
    return member
