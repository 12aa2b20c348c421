"""POST /api/v1/transactions and friends: receipts pushed by POS terminals."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from loyalty import jobs
from loyalty.auth import check_member_scope, check_store_scope, principal, require
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.idempotency import idempotent
from loyalty.models import Store
from loyalty.money import format_minor
from loyalty.ratelimit import rate_limited
from loyalty.staff import store_by_code
from members.api import code_policy
from members.models import Member
from pos_adapters import ingestion, receipt_batches
from pos_adapters.errors import UnknownTransaction
from pos_adapters.schemas import (
    BatchRequestSchema,
    BatchResultSchema,
    ClaimSchema,
    QuoteRequestSchema,
    QuoteSchema,
    ReceiptSchema,
    TransactionQuerySchema,
    TransactionResultSchema,
    TransactionRowSchema,
    TransactionSchema,
)
from rewards.models import JournalEntry, Transaction

blp = Blueprint("transactions", __name__, url_prefix="/api/v1", description="POS transactions")
SECURITY = [{"bearerAuth": []}]


def source_for_request() -> ingestion.Source:
    caller = principal()
    assert caller.store_id is not None
    return ingestion.Source(
        store_id=caller.store_id,
        terminal_id=caller.id,
        currency=current_app.config["CURRENCY"],
        code_policy=code_policy(),
        now=utcnow(),
    )


def result_view(txn: Transaction) -> dict:
    # embedded mode: the receipt is processed now, so that the answer shows its points
    if jobs.process_in_unit(current_app, db.session):
        db.session.refresh(txn)
    member = None
    if txn.member_id is not None:
        # the balance alone, read fresh: loading the Member would load its cards and consents
        balance = db.session.scalar(select(Member.points_balance).where(Member.id == txn.member_id))
        member = {"id": txn.member_id, "points_balance": balance}
    return {
        "id": txn.id,
        "status": txn.status,
        "points_awarded": txn.points_awarded,
        "member": member,
    }


@blp.route("/transactions")
class Transactions(MethodView):
    decorators = [idempotent, require("terminal")]

    @blp.arguments(ReceiptSchema)
    @blp.response(201, TransactionResultSchema)
    @blp.alt_response(200, schema=TransactionResultSchema, description="A replayed receipt")
    @blp.doc(security=SECURITY)
    def post(self, receipt):
        """Record a sale or refund from this terminal's store; a replay returns the first result."""
        txn, created = ingestion.record_receipt(db.session, receipt, source_for_request())
        return result_view(txn), 201 if created else 200


def transaction_view(txn: Transaction) -> dict:
    store = db.session.get(Store, txn.store_id)
    sale = db.session.get(Transaction, txn.refund_of_id) if txn.refund_of_id else None
    entries = db.session.scalars(
        select(JournalEntry)
        .where(JournalEntry.cause_type == "transaction", JournalEntry.cause_id == str(txn.id))
        .order_by(JournalEntry.id)
    )
    return {
        "id": txn.id,
        "external_id": txn.external_id,
        "store": store.code if store else None,
        "type": txn.type,
        "refund_of": sale.external_id if sale else None,
        "occurred_at": txn.occurred_at,
        "currency": txn.currency,
        "member_id": txn.member_id,
        "total": format_minor(txn.total_minor),
        "discount": format_minor(txn.discount_minor),
        "items": txn.items,
        "status": txn.status,
        "points_awarded": txn.points_awarded,
        "refunded": format_minor(txn.refunded_minor),
        "effects": [
            {
                "entry_id": e.id,
                "kind": e.kind,
                "rule": e.rule,
                "points": e.points,
                "description": e.description,
            }
            for e in entries
        ],
        "created_at": txn.created_at,
        "processed_at": txn.processed_at,
    }


@blp.route("/transactions/batch", methods=["POST"])
@require("terminal")
@blp.arguments(BatchRequestSchema)
@blp.response(200, BatchResultSchema)
@blp.doc(security=SECURITY)
def record_batch(body):
    """Record up to 500 receipts; each stands alone (201 recorded, 200 a replay, 409 the id
    of another receipt, 422 with its errors), its result in the order sent."""
    outcomes = receipt_batches.record_batch(db.session, body["receipts"], source_for_request())
    jobs.process_in_unit(current_app, db.session)  # embedded mode: the answer shows the points
    points = receipt_batches.points_of(
        db.session, [o.transaction_id for o in outcomes if o.transaction_id is not None]
    )
    return {"results": [_batch_result(o, points) for o in outcomes]}


def _batch_result(outcome: receipt_batches.Outcome, points: dict[int, int]) -> dict:
    result = {"external_id": outcome.external_id, "status": outcome.status}
    if outcome.transaction_id is not None:
        result["id"] = outcome.transaction_id
        result["points_awarded"] = points.get(outcome.transaction_id, 0)
    if outcome.errors:
        result["errors"] = outcome.errors
    return result


@blp.route("/transactions/<int:transaction_id>")
@require("shopper", "terminal", "cashier", "marketer", "admin")
@blp.response(200, TransactionSchema)
@blp.doc(security=SECURITY)
def get_transaction(transaction_id):
    """A transaction with its status, points and the effects the engine applied."""
    txn = db.session.get(Transaction, transaction_id)
    caller = principal()
    if txn is None or (caller.role == "shopper" and txn.member_id != caller.id):
        raise UnknownTransaction(f"No transaction {transaction_id}.")
    check_store_scope(txn.store_id)
    return transaction_view(txn)


@blp.route("/transactions/claim", methods=["POST"])
@require("shopper")
@blp.arguments(ClaimSchema)
@blp.response(200, TransactionResultSchema)
@blp.doc(security=SECURITY)
@rate_limited("claim", key=lambda _body: principal().label)
def claim(body):
    """Claim an anonymous receipt by its number and total, within the claim window."""
    caller = principal()
    check_member_scope(caller.id)
    store_id = store_by_code(db.session, body["store"]).id if body.get("store") else None
    txn = ingestion.claim_receipt(
        db.session,
        caller.id,
        body["external_id"],
        body["total"],
        store_id,
        utcnow(),
        current_app.config["CLAIM_DAYS"],
    )
    return result_view(txn)


@blp.route("/quote", methods=["POST"])
@require("terminal", "cashier")
@blp.arguments(QuoteRequestSchema)
@blp.response(200, QuoteSchema)
@blp.doc(security=SECURITY)
def quote(body):
    """What this sale would earn the member (base rule and live campaigns), with no side
    effect, and the rewards they could then afford."""
    caller = principal()
    source = ingestion.Source(
        store_id=caller.store_id,
        terminal_id=caller.id if caller.role == "terminal" else None,
        currency=current_app.config["CURRENCY"],
        code_policy=code_policy(),
        now=utcnow(),
    )
    result = ingestion.quote_receipt(db.session, body, source, current_app.config["TIMEZONE"])
    treated = [o for o in result.quote.outcomes if o.group == "treated"]
    return {
        "points": result.quote.points,
        "base_points": result.quote.base_points,
        "campaigns": [{"id": o.rule.id, "name": o.rule.name, "points": o.points} for o in treated],
        "rewards": result.rewards,
        "member": {"id": result.member_id, "points_balance": result.balance},
    }


@blp.route("/transactions", methods=["GET"])
@require("admin", "marketer")
@blp.arguments(TransactionQuerySchema, location="query")
@blp.response(200, TransactionRowSchema(many=True))
@blp.doc(security=SECURITY)
def list_transactions(query):
    """Transactions newest first, `per_page` (up to 500) a page; `source` keeps those pulled
    from one POS source. The total is in the `X-Total-Count` header."""
    t, sale = Transaction, aliased(Transaction)
    where = [t.source == f"pos:{query['source']}"] if "source" in query else []
    total = db.session.scalar(select(func.count()).select_from(t).where(*where))
    rows = db.session.execute(
        select(t, Store.code, sale.external_id)
        .join(Store, Store.id == t.store_id)
        .outerjoin(sale, sale.id == t.refund_of_id)
        .where(*where)
        .order_by(t.occurred_at.desc(), t.id.desc())
        .limit(query["per_page"])
        .offset((query["page"] - 1) * query["per_page"])
    )
    items = [
        {
            "id": txn.id,
            "external_id": txn.external_id,
            "type": txn.type,
            "total": format_minor(txn.total_minor),
            "occurred_at": txn.occurred_at,
            "store": store,
            "member_id": txn.member_id,
            "points_awarded": txn.points_awarded,
            "refund_of": refund_of,
        }
        for txn, store, refund_of in rows
    ]
    return items, 200, {"X-Total-Count": str(total)}
