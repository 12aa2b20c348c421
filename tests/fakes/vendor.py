"""The one interface every fake POS vendor offers the tests, so that one suite of end-to-end
sync tests runs against each vendor (`tests/integration/pos/test_sync_every_vendor.py`).

A fake holds the vendor's data in memory and serves it over HTTP the way the vendor's
documented API does (paths, auth header, pagination, time filters, error shapes). Amounts
given to the control methods are baht as Decimal; the fake stores them in the vendor's own
units and shapes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tests.fakes.server import FakeServer


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: int
    price: Decimal  # unit price in baht
    category: str = ""


@dataclass(frozen=True)
class Shopper:
    """A vendor customer; the fake gives it a vendor id of its own."""

    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Webhook:
    """A delivery as the vendor would send it to `path_and_query` (relative to our
    `webhook_url`: "" or "?token=…")."""

    headers: dict[str, str]
    body: bytes
    query: str = ""


class FakeVendor(ABC):
    kind: str
    server: FakeServer
    stores: tuple[str, str]  # two vendor store (location) ids the fake knows

    @property
    def url(self) -> str:
        return self.server.url

    @property
    @abstractmethod
    def credentials(self) -> dict[str, str]:
        """Credentials the fake accepts, in the shape our API takes for this kind."""

    webhook_secret: str = "whsec-test-123"

    @abstractmethod
    def add_sale(
        self,
        store: str,
        lines: list[Line],
        at: datetime,
        shopper: Shopper | None = None,
        note: str | None = None,
        discount: Decimal = Decimal("0"),
    ) -> str:
        """A paid sale; returns the vendor id our transaction's external_id will hold. The
        total is the lines' sum less the discount."""

    @abstractmethod
    def add_refund(self, sale_id: str, amount: Decimal, at: datetime) -> str:
        """A refund of `amount` baht of the sale (of its first line, if the vendor refunds
        lines); returns the refund's vendor id as our external_id will hold it."""

    @abstractmethod
    def void(self, sale_id: str, at: datetime) -> None:
        """Cancel (void) the sale, as the vendor records it."""

    @abstractmethod
    def edit_total(self, sale_id: str, total: Decimal, at: datetime) -> None:
        """Change the sale's amount after the fact and move its updated time."""

    @abstractmethod
    def webhook_for(self, vendor_ids: list[str], secret: str | None = None) -> Webhook:
        """A delivery announcing these receipts, signed as the vendor signs it with `secret`
        (default: `webhook_secret`) for our `webhook_url`."""

    def set_webhook_url(self, url: str) -> None:  # noqa: B027 - only Square signs the URL
        """Our webhook URL as registered at the vendor (Square signs it)."""

    def rate_limit_next(self, count: int, retry_after: str = "1") -> None:
        """The next `count` requests answer 429 as the vendor does, with `Retry-After`."""
        self.server.fail_next(count, 429, self.error_body(429), {"Retry-After": retry_after})

    def fail_next(self, count: int, status: int = 500) -> None:
        self.server.fail_next(count, status, self.error_body(status))

    def outage_after(self, passing: int, status: int = 503) -> None:
        """Go down after `passing` more requests, until `server.recover()`."""
        self.server.outage_after(passing, status, self.error_body(status))

    @abstractmethod
    def error_body(self, status: int) -> object:
        """The vendor's documented error body for this status."""

    def stop(self) -> None:
        self.server.stop()
