"""`flask demo seed`: a believable Thai demo program, built through the real services.

Four Bangkok branches of a café and lifestyle brand, a till in each, staff, members with Thai
names and mobile numbers, tiers and campaigns (demo_campaigns.py), six months of receipts (a few
refunded) recorded and processed as POS pushes are, a rewards catalog and some redemptions.
The same `--seed` gives the same members and receipts; receipt dates are counted back from today.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import click
import phonenumbers
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from demo import campaigns as demo_campaigns
from loyalty import jobs, staff
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.models import StaffUser, Store
from loyalty.unit_of_work import unit_of_work
from members.api import code_policy
from members.models import Member
from members.service import Enrolment, enrol_member
from pos_adapters.ingestion import Source, record_receipt
from pos_adapters.schemas import ReceiptSchema
from rewards import catalog, redemption
from rewards.errors import RewardUnavailable
from rewards.models import Redemption

demo_cli = AppGroup("demo", help="Demo data.")

DEMO_PASSWORD = "demo-1234"
STAFF = (
    ("admin@demo.local", "admin", None),
    ("marketer@demo.local", "marketer", None),
    ("cashier@demo.local", "cashier", "SPG"),
)
# code, name, share of the receipts, sells fashion besides the café
STORES = (
    ("SPG", "Baan Kafe Siam Paragon", 35, True),
    ("THL", "Baan Kafe Thonglor", 25, True),
    ("ARI", "Baan Kafe Ari", 20, False),
    ("SLM", "Baan Kafe Silom", 20, False),
)


def _names(text: str) -> list[tuple[str, str]]:
    """Thai script and romanised spelling, as `ไทย:Thai` pairs."""
    return [(thai, roman) for thai, roman in (pair.split(":") for pair in text.split())]


FIRST_NAMES = _names(
    """
    สมชาย:Somchai สมศักดิ์:Somsak ประเสริฐ:Prasert วิชัย:Wichai ธนากร:Thanakorn ณัฐวุฒิ:Nattawut
    กิตติพงษ์:Kittipong อนุชา:Anucha ธีรวัฒน์:Teerawat พงศกร:Pongsakorn ภานุวัฒน์:Panuwat
    ชยพล:Chayapon สมหญิง:Somying มาลี:Malee สุภาพร:Supaporn วันเพ็ญ:Wanpen กมลวรรณ:Kamonwan
    ณัฐธิดา:Nattida พิมพ์ชนก:Pimchanok ปวีณา:Paweena ศิริพร:Siriporn อรุณี:Arunee
    กัญญารัตน์:Kanyarat จิราพร:Jiraporn ชนิดา:Chanida ธิดารัตน์:Thidarat วราภรณ์:Waraporn ปิยะ:Piya
    """
)
LAST_NAMES = _names(
    """
    ใจดี:Jaidee ศรีสุข:Srisuk วงศ์สวัสดิ์:Wongsawat แก้วมณี:Kaewmanee บุญมา:Boonma
    สุขสมบูรณ์:Suksomboon รัตนพันธ์:Rattanapan ทองดี:Thongdee ชัยมงคล:Chaimongkol พรหมวงศ์:Promwong
    จันทร์เพ็ญ:Chanpen ศรีวงศ์:Sriwong มั่นคง:Mankong สายทอง:Saithong เพชรรัตน์:Petcharat
    วัฒนากุล:Wattanakul ธนพัฒน์:Thanapat นาคสวัสดิ์:Naksawat ลิ้มเจริญ:Limcharoen อินทร์แก้ว:Inkaew
    """
)


def _products(table: str) -> list[tuple[str, ...]]:
    """sku, name, category and unit price, one product a line."""
    return [tuple(cell.strip() for cell in line.split(",")) for line in table.strip().splitlines()]


CAFE = _products(
    """
    CF-LATTE, Latte, coffee, 75.00
    CF-ICLAT, Iced latte, coffee, 85.00
    CF-AMER, Americano, coffee, 65.00
    CF-COCO, Coconut cold brew, coffee, 110.00
    TE-CHAYEN, Thai milk tea, tea, 60.00
    TE-MATCHA, Matcha latte, tea, 95.00
    BK-CROIS, Butter croissant, bakery, 70.00
    BK-BANANA, Banana bread, bakery, 65.00
    DS-MANGO, Mango sticky rice, dessert, 140.00
    DS-TOAST, Honey toast, dessert, 159.00
    """
)
FASHION = _products(
    """
    FA-TEE, Cotton crew tee, apparel, 490.00
    FA-LINEN, Linen shirt, apparel, 1290.00
    FA-DRESS, Pleated midi dress, apparel, 2490.00
    FA-PANTS, Wide-leg trousers, apparel, 1590.00
    FA-SNEAK, Canvas sneakers, shoes, 1890.00
    FA-BAG, Woven shoulder bag, accessories, 2190.00
    FA-SCARF, Silk scarf, accessories, 890.00
    FA-CAP, Logo cap, accessories, 450.00
    """
)
Item = tuple[str, str, str, str, int]  # sku, name, category, unit price, quantity


@dataclass(frozen=True)
class Person:
    name: str
    phone: str  # Thai local format, as a cashier types it
    email: str | None
    birthdate: date
    locale: str
    consents: dict[str, bool]
    card_kind: str
    store: str  # where they enrolled


@dataclass(frozen=True)
class Receipt:
    """A planned POS push: a sale, or a refund of an earlier sale of the same store."""

    store: str
    occurred_at: datetime
    items: tuple[Item, ...]
    external_id: str = ""
    discount: Decimal = Decimal(0)
    member: int | None = None  # index into Plan.people
    by_phone: bool = False  # the cashier looked the member up by phone, not card
    refund_of: str | None = None

    @property
    def total(self) -> Decimal:
        subtotal = sum((Decimal(price) * qty for *_, price, qty in self.items), Decimal(0))
        return subtotal - self.discount


@dataclass(frozen=True)
class Plan:
    people: list[Person]
    receipts: list[Receipt]  # in the order they happened

    @property
    def refunds(self) -> int:
        return sum(1 for r in self.receipts if r.refund_of)


def _mobile(rng: random.Random, taken: set[str]) -> str:
    while True:
        local = f"0{rng.choice('689')}{rng.randrange(10**8):08d}"
        number = phonenumbers.parse(local, "TH")
        mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        if mobile and phonenumbers.is_valid_number(number) and local not in taken:
            taken.add(local)
            return f"{local[:3]}-{local[3:6]}-{local[6:]}"


def _person(rng: random.Random, first: tuple, last: tuple, phones: set[str]) -> Person:
    thai = rng.random() < 0.7
    return Person(
        name=f"{first[0]} {last[0]}" if thai else f"{first[1]} {last[1]}",
        phone=_mobile(rng, phones),
        email=f"{first[1]}.{last[1]}@example.com".lower() if rng.random() < 0.6 else None,
        birthdate=date(rng.randint(1968, 2004), rng.randint(1, 12), rng.randint(1, 28)),
        locale="th" if thai else "en",
        consents={
            "marketing_sms": rng.random() < 0.6,
            "marketing_email": rng.random() < 0.4,
            "marketing_line": rng.random() < 0.7,
        },
        card_kind="printed" if rng.random() < 0.1 else "digital",
        store=rng.choices(STORES, [s[2] for s in STORES])[0][0],
    )


def plan_people(rng: random.Random, count: int) -> list[Person]:
    """Members with Thai names: in Thai script (locale th) or romanised (locale en)."""
    pairs = rng.sample([(f, s) for f in FIRST_NAMES for s in LAST_NAMES], count)
    phones: set[str] = set()
    return [_person(rng, first, last, phones) for first, last in pairs]


def _basket(rng: random.Random, fashion: bool) -> tuple[Item, ...]:
    if fashion:
        return tuple((*p, 1) for p in rng.sample(FASHION, rng.choice((1, 1, 1, 2))))
    picks = rng.sample(CAFE, rng.choice((1, 1, 2, 2, 3)))
    return tuple((*p, rng.choice((1, 1, 1, 2))) for p in picks)


def _sale(rng: random.Random, local_now: datetime, weights: list[int]) -> Receipt:
    store, _name, _share, sells_fashion = rng.choices(STORES, [s[2] for s in STORES])[0]
    fashion = sells_fashion and rng.random() < 0.45
    day = (local_now - timedelta(days=rng.randint(1, 182))).date()
    at = datetime.combine(day, time(rng.randint(8, 20), rng.randrange(60)), local_now.tzinfo)
    sale = Receipt(
        store=store,
        occurred_at=at,
        items=_basket(rng, fashion),
        member=None if rng.random() < 0.1 else rng.choices(range(len(weights)), weights)[0],
        by_phone=rng.random() < 0.3,
    )
    if fashion and rng.random() < 0.15:  # a member-day discount of 10 %
        return replace(sale, discount=(sale.total / 10).quantize(Decimal(1)))
    return sale


def _numbered(sales: list[Receipt]) -> list[Receipt]:
    sales = sorted(sales, key=lambda r: r.occurred_at)
    counters = dict.fromkeys((s[0] for s in STORES), 0)
    numbered = []
    for sale in sales:
        counters[sale.store] += 1
        number = f"{sale.store}-{sale.occurred_at:%y%m}-{counters[sale.store]:05d}"
        numbered.append(replace(sale, external_id=number))
    return numbered


def _refunds(rng: random.Random, sales: list[Receipt], local_now: datetime) -> list[Receipt]:
    """A few fashion items brought back within a week: a whole receipt or one item of it."""
    candidates = [
        s
        for s in sales
        if s.member is not None
        and not s.discount
        and s.items[0][0].startswith("FA-")
        and s.occurred_at < local_now - timedelta(days=10)
    ]
    return [
        Receipt(
            store=sale.store,
            occurred_at=sale.occurred_at + timedelta(days=rng.randint(1, 7), hours=1),
            items=sale.items[:1],
            external_id=f"{sale.external_id}-R",
            refund_of=sale.external_id,
        )
        for sale in rng.sample(candidates, min(6, len(candidates)))
    ]


def make_plan(seed: int, now: datetime, timezone: str, members: int, receipts: int) -> Plan:
    """The demo's members and receipts: the same for the same seed and day."""
    rng = random.Random(seed)
    local_now = now.astimezone(ZoneInfo(timezone))
    people = plan_people(rng, members)
    weights = [rng.choice((1, 1, 2, 2, 3, 5, 8)) for _ in people]
    sales = _numbered([_sale(rng, local_now, weights) for _ in range(receipts)])
    events = sorted(sales + _refunds(rng, sales, local_now), key=lambda r: r.occurred_at)
    return Plan(people, events)


# --- building the program through the services -------------------------------------------


@dataclass(frozen=True)
class Till:
    store_code: str
    store_name: str
    store_id: int
    terminal_id: int
    key: str


def already_seeded(session: Session) -> bool:
    codes = [s[0] for s in STORES]
    store = session.scalar(select(Store.id).where(Store.code.in_(codes)).limit(1))
    admin = session.scalar(select(StaffUser.id).where(StaffUser.email == STAFF[0][0]))
    return store is not None or admin is not None


def _open_stores(session: Session) -> dict[str, Till]:
    tills = {}
    with unit_of_work(session):
        for code, name, _share, _fashion in STORES:
            store = staff.create_store(session, code, name)
            terminal, key = staff.create_terminal(session, code, f"{name} till 1")
            tills[code] = Till(code, name, store.id, terminal.id, key)
        for email, role, store_code in STAFF:
            staff.create_user(session, email, role, DEMO_PASSWORD, store_code)
    return tills


def _open_catalog(session: Session, now: datetime) -> None:
    rewards = (
        ("Free latte · ลาเต้ฟรี 1 แก้ว", 120, None, {}),
        ("Croissant and Americano set · ชุดครัวซองต์กับอเมริกาโน่", 180, None, {}),
        ("100 THB voucher · บัตรกำนัล 100 บาท", 400, None, {"voucher_days": 60}),
        ("Canvas tote bag · กระเป๋าผ้าแคนวาส", 600, 40, {}),
        (
            "Songkran tumbler, limited · แก้วน้ำลายสงกรานต์",
            900,
            15,
            {"starts_at": now - timedelta(days=14), "ends_at": now + timedelta(days=45)},
        ),
        ("Rainy-season umbrella · ร่มหน้าฝน", 750, 30, {"active": False}),
    )
    with unit_of_work(session):
        for name, cost, stock, extra in rewards:
            fields = {"name": name, "points_cost": cost, "stock": stock, **extra}
            catalog.create_reward(session, fields)


def _first_visits(plan: Plan) -> dict[int, datetime]:
    """When each member first shows up in the plan: they enrolled at the till that day."""
    first: dict[int, datetime] = {}
    for receipt in plan.receipts:
        if receipt.member is not None and receipt.member not in first:
            first[receipt.member] = receipt.occurred_at - timedelta(minutes=5)
    return first


def _enrol(session: Session, plan: Plan, tills: dict[str, Till]) -> list[Member]:
    """Each person enrols at their till, one unit of work each."""
    first = _first_visits(plan)
    enrolled = []
    for index, p in enumerate(plan.people):
        enrolment = Enrolment(
            name=p.name,
            phone=p.phone,
            email=p.email,
            birthdate=p.birthdate,
            locale=p.locale,
            consents=p.consents,
            store_id=tills[p.store].store_id,
            card_kind=p.card_kind,
            enrolled_at=first.get(index),
        )
        with unit_of_work(session):
            enrolled.append(enrol_member(session, enrolment))
    return enrolled


def _payload(receipt: Receipt, member: Member | None, currency: str) -> dict:
    body = {
        "external_id": receipt.external_id,
        "occurred_at": receipt.occurred_at.isoformat(),
        "type": "refund" if receipt.refund_of else "sale",
        "currency": currency,
        "items": [
            {"sku": sku, "name": name, "category": cat, "quantity": qty, "unit_price": price}
            for sku, name, cat, price, qty in receipt.items
        ],
        "discount": f"{receipt.discount:.2f}",
        "total": f"{receipt.total:.2f}",
    }
    if receipt.refund_of:
        body["refund_of"] = receipt.refund_of
    elif member is not None:
        body["member"] = (
            {"phone": member.phone} if receipt.by_phone else {"member_no": member.member_no}
        )
    return ReceiptSchema().load(body)


def _record(app: Flask, plan: Plan, members: list[Member], tills: dict[str, Till]) -> None:
    """Push every receipt as its store's till would, then let the engine finish them."""
    currency, policy = app.config["CURRENCY"], code_policy()
    for receipt in plan.receipts:
        till = tills[receipt.store]
        member = members[receipt.member] if receipt.member is not None else None
        source = Source(till.store_id, till.terminal_id, currency, policy, utcnow())
        with unit_of_work():
            record_receipt(db.session, _payload(receipt, member, currency), source)
    jobs.drain_now(app)  # with Redis configured, do not wait for a worker


def _balance(session: Session, member: Member) -> int:
    return session.scalar(select(Member.points_balance).where(Member.id == member.id)) or 0


def _redeem(
    session: Session, rng: random.Random, members: list[Member], tills: dict[str, Till]
) -> list[Redemption]:
    """About half the members with enough points spend them on one of the dearer rewards."""
    made = []
    for member in rng.sample(members, len(members)):
        balance = _balance(session, member)
        affordable = [
            r for r in catalog.list_rewards(session, utcnow()) if r.points_cost <= balance
        ]
        if not affordable or rng.random() < 0.5:
            continue
        reward = rng.choice(affordable[-2:])
        till = tills[rng.choice(sorted(tills))]
        at_till = redemption.Till("terminal", till.store_id, terminal_id=till.terminal_id)
        try:
            with unit_of_work(session):
                found, _ = redemption.redeem_points(session, member.id, None, at_till, reward.id)
        except RewardUnavailable:  # the last one in stock went to someone else
            continue
        made.append(found)
    return made


def _settle(session: Session, made: list[Redemption], timezone: str) -> None:
    """The last redemption is cancelled at the till; every second voucher of the rest is used."""
    if not made:
        return
    cancelled = made[-1]
    till = redemption.Till("terminal", cancelled.store_id, terminal_id=cancelled.terminal_id)
    with unit_of_work(session):
        redemption.cancel_redemption(session, cancelled.id, till, timezone)
    for found in made[:-1:2]:
        with unit_of_work(session):
            voucher = redemption.voucher_of(session, found)
            if voucher is not None:
                used_by = f"terminal:{found.terminal_id}"
                catalog.use_voucher(session, voucher.code, found.store_id, used_by)


@dataclass(frozen=True)
class Seeded:
    tills: list[Till]
    members: int
    sales: int
    refunds: int
    redemptions: int
    campaigns: int


def seed_demo(app: Flask, seed: int, members: int, receipts: int) -> Seeded:
    """Build the demo program; the caller checks `already_seeded` first."""
    now, session = utcnow(), db.session
    plan = make_plan(seed, now, app.config["TIMEZONE"], members, receipts)
    tills = _open_stores(session)
    _open_catalog(session, now)
    with unit_of_work(session):
        launched = demo_campaigns.open_campaigns(session)
    enrolled = _enrol(session, plan, tills)
    _record(app, plan, enrolled, tills)
    made = _redeem(session, random.Random(seed + 1), enrolled, tills)
    _settle(session, made, app.config["TIMEZONE"])
    return Seeded(
        list(tills.values()),
        len(enrolled),
        len(plan.receipts) - plan.refunds,
        plan.refunds,
        len(made),
        launched,
    )


def _report(seeded: Seeded) -> None:
    click.echo(
        f"Demo program ready: {len(seeded.tills)} stores, {seeded.members} members, "
        f"{seeded.sales} sales, {seeded.refunds} refunds, {seeded.redemptions} redemptions, "
        f"{seeded.campaigns} campaigns."
    )
    click.echo(f"\nStaff logins (password {DEMO_PASSWORD}), for POST /api/v1/auth/token:")
    for email, role, store in STAFF:
        click.echo(f"  {email:22} {role}{f' at {store}' if store else ''}")
    click.echo("\nTerminal API keys (shown only now), bearer tokens for POST /api/v1/transactions:")
    for till in seeded.tills:
        click.echo(f"  {till.store_code}  {till.store_name:24} {till.key}")


@demo_cli.command("seed")
@click.option("--seed", default=2026, show_default=True, help="Random seed of the demo data.")
@click.option("--members", default=60, show_default=True, type=click.IntRange(1, 500))
@click.option("--receipts", default=420, show_default=True, type=click.IntRange(0, 20000))
def seed_command(seed: int, members: int, receipts: int) -> None:
    """A demo program: stores, tills, staff, members, six months of receipts, rewards."""
    if already_seeded(db.session):
        click.echo("The demo program is already there; nothing was added.")
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _report(seed_demo(app, seed, members, receipts))
