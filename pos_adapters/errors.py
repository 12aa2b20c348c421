"""Errors of receipt ingestion."""

from loyalty.errors import Conflict, NotFound


class ReceiptConflict(Conflict):
    slug, title = "receipt-conflict", "Receipt id reused with a different body"


class UnknownTransaction(NotFound):
    slug, title = "unknown-transaction", "Unknown transaction"


class NothingToClaim(NotFound):
    slug, title = "nothing-to-claim", "No claimable receipt matches"
