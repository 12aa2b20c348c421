"""Segment endpoints (marketer, admin): define, preview, list, page through, export, delete."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import principal, require
from loyalty.csv_files import safe_text
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from members.segments import service as segments
from members.segments.schemas import (
    SegmentCreateSchema,
    SegmentMemberSchema,
    SegmentMembersQuerySchema,
    SegmentPreviewSchema,
    SegmentSchema,
    SegmentSizeSchema,
)

blp = Blueprint("segments", __name__, url_prefix="/api/v1", description="Segments")
SECURITY = [{"bearerAuth": []}]
MARKETING = ("marketer", "admin")
CSV_HEADER = ("member_no", "name", "email", "phone")


@blp.route("/segments")
class Segments(MethodView):
    @require(*MARKETING)
    @blp.response(200, SegmentSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self):
        """Every segment with its size at the last refresh."""
        return segments.list_segments(db.session)

    @idempotent
    @require(*MARKETING)
    @blp.arguments(SegmentCreateSchema)
    @blp.response(201, SegmentSchema)
    @blp.doc(security=SECURITY)
    def post(self, body):
        """Define a segment; its members are evaluated now and kept up to date by a job."""
        timezone = current_app.config["TIMEZONE"]
        return segments.create_segment(
            db.session, body["name"].strip(), body["rule"], principal().label, utcnow(), timezone
        )


@blp.route("/segments/preview", methods=["POST"])
@require(*MARKETING)
@blp.arguments(SegmentPreviewSchema)
@blp.response(200, SegmentSizeSchema)
@blp.doc(security=SECURITY)
def preview(body):
    """How many members a rule holds for now, without saving it."""
    timezone = current_app.config["TIMEZONE"]
    return {"size": segments.preview_size(db.session, body["rule"], utcnow(), timezone)}


@blp.route("/segments/<int:segment_id>")
class SegmentItem(MethodView):
    @require(*MARKETING)
    @blp.response(200, SegmentSchema)
    @blp.doc(security=SECURITY)
    def get(self, segment_id):
        """A segment: its rule, size and when it was last refreshed."""
        return segments.get_segment(db.session, segment_id)

    @require(*MARKETING)
    @blp.response(204)
    @blp.doc(security=SECURITY)
    def delete(self, segment_id):
        """Delete a segment (409 while a campaign that has not ended names it)."""
        users = segments.segment_users(current_app)
        segments.delete_segment(db.session, segment_id, users)


@blp.route("/segments/<int:segment_id>/members")
@require(*MARKETING)
@blp.arguments(SegmentMembersQuerySchema, location="query")
@blp.response(200, SegmentMemberSchema(many=True))
@blp.doc(security=SECURITY)
def segment_members(query, segment_id):
    """The segment's members by id; pass the last id as after_id for the next page."""
    return segments.members_page(db.session, segment_id, query["limit"], query.get("after_id"))


def csv_lines(rows: Iterable[tuple[str, str, str, str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for member_no, name, email, phone in rows:
        writer.writerow((member_no, safe_text(name), safe_text(email), phone))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@blp.route("/segments/<int:segment_id>/export.csv")
@require(*MARKETING)
@blp.doc(security=SECURITY, responses={"200": {"content": {"text/csv": {}}}})
def export_csv(segment_id):
    """The members who may be contacted, as CSV: email and phone only where they consented."""
    segments.get_segment(db.session, segment_id)
    rows = segments.export_rows(db.session, segment_id)
    response = Response(stream_with_context(csv_lines(rows)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="segment-{segment_id}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response
