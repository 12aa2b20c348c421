"""The benchmark's program, made through the product's own services: stores, one terminal
key per simulated till, members with digital cards, and an opening balance to redeem from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from loyalty import create_app, staff
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members.models import Card
from members.service import Enrolment, enrol_member
from rewards.ledger.adjustments import adjust_points


@dataclass(frozen=True)
class Till:
    """A simulated POS till: its store and terminal API key."""

    store_code: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class Shopper:
    """A member as the till sees them: the card whose rotating code it scans."""

    member_id: int
    card_no: str
    secret: bytes


@dataclass(frozen=True)
class Program:
    tills: list[Till]
    shoppers: list[Shopper]


def build_program(
    database_url: str, stores: int, tills: int, members: int, funded: int, opening: int
) -> Program:
    """Create the program in `database_url`; the first `funded` members get `opening` points."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None})
    with app.app_context():
        with unit_of_work():  # one commit for the whole program
            codes = _stores(stores)
            made = [_till(codes[i % len(codes)], i) for i in range(tills)]
            ids = [_member(i) for i in range(members)]
            for member_id in ids[:funded]:
                adjust_points(
                    db.session, member_id, opening, "benchmark opening balance", "bench", None,
                    app.config["TIMEZONE"],
                )  # fmt: skip
            shoppers = _shoppers(ids)
        db.engine.dispose()
    return Program(made, shoppers)


def store_codes(count: int) -> list[str]:
    """The codes `build_program` gives its stores."""
    return [f"BKB{i + 1:02d}" for i in range(count)]


def _stores(count: int) -> list[str]:
    codes = store_codes(count)
    for code in codes:
        staff.create_store(db.session, code, f"Bench store {code}")
    return codes


def _till(store_code: str, index: int) -> Till:
    _terminal, key = staff.create_terminal(db.session, store_code, f"Bench till {index + 1}")
    return Till(store_code, key)


def _member(index: int) -> int:
    enrolment = Enrolment(name=f"Bench Member {index + 1}", phone=f"+6689{index:07d}")
    return enrol_member(db.session, enrolment).id


def _shoppers(member_ids: list[int]) -> list[Shopper]:
    rows = db.session.execute(
        select(Card.member_id, Card.card_no, Card.secret).where(
            Card.member_id.in_(member_ids), Card.status == "active"
        )
    ).all()
    by_member = {row.member_id: row for row in rows}
    return [
        Shopper(m, by_member[m].card_no, bytes.fromhex(by_member[m].secret)) for m in member_ids
    ]
