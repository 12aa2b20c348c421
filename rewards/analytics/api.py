"""Program analytics endpoints: the report as JSON and as CSV."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from loyalty.auth import require
from loyalty.csv_files import download
from loyalty.db import utcnow
from loyalty.errors import InvalidInput, NotFound
from loyalty.extensions import db
from loyalty.settings import get_setting
from loyalty.staff import store_by_code
from loyalty.unit_of_work import read_at_one_moment
from members.tiers.policy import program_day
from rewards.analytics.periods import window
from rewards.analytics.program import Scope
from rewards.analytics.report import csv_rows, program_report
from rewards.analytics.schemas import ProgramQuerySchema, ProgramReportSchema

blp = Blueprint("analytics", __name__, url_prefix="/api/v1", description="Program analytics")
SECURITY = [{"bearerAuth": []}]
MARKETING = ("marketer", "admin")
MAX_DAYS = 3 * 366  # a longer window is refused: three years answer any finance question


def _scope(args: dict) -> Scope:
    timezone = current_app.config["TIMEZONE"]
    today = program_day(utcnow(), timezone)
    store_id = None
    if "store" in args:
        try:
            store_id = store_by_code(db.session, args["store"]).id
        except NotFound as exc:
            raise InvalidInput("store", "no store has this code") from exc
    days = int(get_setting(db.session, "active_days")["days"])
    asked = window(args.get("first"), args.get("last"), today, timezone)
    if asked.first > asked.last:
        raise InvalidInput("from", "must not be after `to`")
    if (asked.last - asked.first).days >= MAX_DAYS:
        raise InvalidInput("from", f"a window is at most {MAX_DAYS} days")
    return Scope(asked, store_id, days)


def _dumped(args: dict) -> dict:
    scope = _scope(args)
    read_at_one_moment(db.session)  # the rollups and what they do not hold yet, together
    return program_report(db.session, scope)


@blp.route("/analytics/program")
@require(*MARKETING)
@blp.arguments(ProgramQuerySchema, location="query")
@blp.response(200, ProgramReportSchema)
@blp.doc(security=SECURITY)
def program(args):
    """The program's figures for a window of days: members, points by flow, outstanding
    points and their liability, tiers, weeks and cohorts (definitions: docs/ANALYTICS.md)."""
    report = _dumped(args)
    return {**report, "first": report.pop("from"), "last": report.pop("to")}


@blp.route("/analytics/program.csv")
@require(*MARKETING)
@blp.arguments(ProgramQuerySchema, location="query")
@blp.doc(security=SECURITY, responses={"200": {"content": {"text/csv": {}}}})
def program_csv(args):
    """The same figures as CSV rows (section, figure, value), for finance."""
    report = _dumped(args)
    return download(csv_rows(report), f"program-{report['from']}-{report['to']}.csv")
