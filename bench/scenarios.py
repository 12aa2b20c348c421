"""What the simulated tills send: receipts with a scanned card, card look-ups, redemptions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench.fixtures import Program, Shopper, Till
from bench.load import Connection, Send
from members.cards.codes import digital_code

CARD_CODE_STEP = 30
MENU = [
    ("CF-LATTE", "Latte", "coffee", "65.00"),
    ("CF-AMER", "Americano", "coffee", "55.00"),
    ("TEA-THAI", "Thai milk tea", "tea", "60.00"),
    ("BK-CROI", "Butter croissant", "bakery", "45.00"),
    ("BK-BANANA", "Banana cake", "bakery", "85.00"),
    ("SN-SANDW", "Chicken sandwich", "food", "120.00"),
]


def card_code(shopper: Shopper) -> str:
    """The rotating code the member's phone shows right now."""
    code, _expires = digital_code(
        shopper.card_no, shopper.secret, datetime.now(UTC), CARD_CODE_STEP
    )
    return code


def receipt(external_id: str, shopper: Shopper, rng: random.Random) -> dict[str, Any]:
    """A café sale of one to four lines, paid by a member who shows the card's QR code."""
    items = [
        {"sku": sku, "name": name, "category": category, "quantity": rng.randint(1, 3),
         "unit_price": price}
        for sku, name, category, price in rng.sample(MENU, rng.randint(1, 4))
    ]  # fmt: skip
    total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
    return {
        "external_id": external_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "type": "sale",
        "currency": "THB",
        "member": {"code": card_code(shopper)},
        "items": items,
        "discount": "0.00",
        "total": f"{total:.2f}",
    }


def receipt_sender(program: Program, run_id: str, till_index: int) -> Send:
    """Till `till_index` rings up sales for random members, numbering its own receipts."""
    till, rng = program.tills[till_index], random.Random(till_index)

    def send(conn: Connection, n: int) -> int:
        shopper = rng.choice(program.shoppers)
        body = receipt(f"{run_id}-T{till_index + 1}-{n + 1}", shopper, rng)
        return conn.post("/api/v1/transactions", body, till.headers)

    return send


def batch_sender(program: Program, run_id: str, till_index: int, size: int) -> Send:
    """Till `till_index` sends `size` sales at once (`POST /transactions/batch`)."""
    till, rng = program.tills[till_index], random.Random(1000 + till_index)

    def send(conn: Connection, n: int) -> int:
        prefix = f"{run_id}-T{till_index + 1}-{n + 1}"
        receipts = [
            receipt(f"{prefix}-{k}", rng.choice(program.shoppers), rng) for k in range(size)
        ]
        return conn.post("/api/v1/transactions/batch", {"receipts": receipts}, till.headers)

    return send


def _till_for(program: Program, i: int) -> Till:
    return program.tills[i % len(program.tills)]


def resolve_sender(program: Program) -> Send:
    """The till scans a member's card: request i resolves the i-th member in turn."""

    def send(conn: Connection, i: int) -> int:
        shopper = program.shoppers[i % len(program.shoppers)]
        body = {"code": card_code(shopper)}
        return conn.post("/api/v1/cards/resolve", body, _till_for(program, i).headers)

    return send


def quote_sender(program: Program) -> Send:
    """The till asks what a basket would earn a member (`POST /quote`) before ringing it up."""
    rng = random.Random(7)

    def send(conn: Connection, i: int) -> int:
        shopper = program.shoppers[i % len(program.shoppers)]
        body = receipt("quote", shopper, rng)
        del body["external_id"], body["type"]
        return conn.post("/api/v1/quote", body, _till_for(program, i).headers)

    return send


def redeem_sender(program: Program, funded: int, points: int) -> Send:
    """The till redeems `points` for a funded member, authorised by the card's current code."""

    def send(conn: Connection, i: int) -> int:
        shopper = program.shoppers[i % funded]
        body = {"member_id": shopper.member_id, "points": points, "code": card_code(shopper)}
        return conn.post("/api/v1/redemptions", body, _till_for(program, i).headers)

    return send
