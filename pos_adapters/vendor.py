"""What every POS vendor adapter offers the sync: fetch a page of receipts since a cursor,
fetch receipts and customers by id, verify and read a webhook; and the registry of kinds.

An adapter turns its vendor's payloads into `VendorReceipt`s (money as `Decimal` in the
currency's major unit) and knows nothing of our tables; the sync (`pos_adapters/sync.py`)
records them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from importlib import import_module
from typing import ClassVar, Literal, Protocol

from pos_adapters.vendor_http import VendorHttp


@dataclass(frozen=True)
class Connection:
    """How to reach one shop's account at its vendor."""

    base_url: str
    credentials: Mapping[str, str]
    webhook_secret: str | None = None
    webhook_url: str = ""  # our webhook URL as the vendor calls it (Square signs it)


@dataclass(frozen=True)
class VendorLine:
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    category: str = ""


@dataclass(frozen=True)
class VendorReceipt:
    """A sale or a refund as its vendor wrote it, in our terms.

    `vendor_id` is the vendor's stable id of the receipt (it becomes the transaction's
    `external_id`); a refund names its sale's `vendor_id` in `refund_of`. `store` and
    `device` are the vendor's ids; `voided` is true for a cancelled or voided sale.
    """

    vendor_id: str
    type: Literal["sale", "refund"]
    occurred_at: datetime
    total: Decimal
    store: str | None = None
    device: str | None = None
    discount: Decimal = Decimal("0")
    items: tuple[VendorLine, ...] = ()
    refund_of: str | None = None
    customer_id: str | None = None
    phone: str | None = None
    email: str | None = None
    note: str | None = None
    voided: bool = False


@dataclass(frozen=True)
class Unreadable:
    """A vendor receipt the adapter could not map: it is rejected with this reason, and the
    rest of its page goes on."""

    vendor_id: str
    reason: str


@dataclass(frozen=True)
class Page:
    """One page of a pull. `cursor` is where the next page starts (opaque to the sync, stored
    only once this page's receipts are committed); `more` is false on the last page."""

    receipts: list[VendorReceipt | Unreadable]
    cursor: str | None
    more: bool


@dataclass(frozen=True)
class Customer:
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """What a verified webhook delivered: whole receipts, or ids of receipts to fetch.
    `event_id` is the vendor's delivery id when it has one (a redelivery repeats it)."""

    event_id: str | None = None
    receipts: list[VendorReceipt | Unreadable] = field(default_factory=list)
    receipt_ids: list[str] = field(default_factory=list)


class VendorClient(Protocol):
    """One vendor's API. Network failures raise `vendor_http.VendorError` (after the retries
    `VendorHttp` makes); bad credentials raise `vendor_http.VendorAuthError`."""

    kind: ClassVar[str]
    default_url: ClassVar[str]
    credential_fields: ClassVar[tuple[str, ...]]

    def __init__(self, connection: Connection, http: VendorHttp) -> None: ...

    def fetch_page(self, cursor: str | None, since: datetime | None) -> Page:
        """The next page after `cursor`; with no cursor, from `since` (or the beginning).
        Pages overlap rather than miss a receipt: the sync tells replays apart."""
        ...

    def fetch_receipts(self, vendor_ids: list[str]) -> list[VendorReceipt | Unreadable]:
        """The receipts with these ids (a webhook that carried only ids)."""
        ...

    def customer(self, customer_id: str) -> Customer | None:
        """The vendor's customer, for matching a member by phone or email; None if unknown."""
        ...

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> bool:
        """True when the delivery is signed (or carries the secret) as the vendor does it."""
        ...

    def webhook_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """The delivery's event id (None where the vendor gives none), read without calling
        the vendor, as the web request stores it. ValueError for a body not of the vendor's
        shape."""
        ...

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The receipts or ids a verified delivery carries; an event of no interest is an
        empty event. Raises ValueError for a body that is not the vendor's shape."""
        ...


KINDS = ("loyverse", "odoo", "shopify", "square")  # each a module in pos_adapters/vendors/


def vendor_class(kind: str) -> type[VendorClient]:
    """The adapter of a kind: `pos_adapters.vendors.<kind>.Client`."""
    if kind not in KINDS:
        raise KeyError(kind)
    return import_module(f"pos_adapters.vendors.{kind}").Client


def money(value: object) -> Decimal:
    """A vendor amount (a JSON number or a decimal string) as an exact Decimal; never via
    float equality. Raises ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, int | float | str | Decimal):
        try:
            return Decimal(str(value)).quantize(Decimal("0.01"))
        except ArithmeticError as exc:
            raise ValueError(f"not an amount: {value!r}") from exc
    raise ValueError(f"not an amount: {value!r}")
