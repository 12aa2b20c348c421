"""Who may call what: every endpoint of the app against every kind of caller.

The rows are checked against the app's URL map, so an endpoint added without a row here
fails `test_every_endpoint_has_a_row_in_the_role_matrix`. Each cell is the status a caller
gets for a request that would succeed for someone allowed: 401 without credentials, 403 for
a role that may not, 404 for another shopper's member or another store's records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from loyalty.db import utcnow
from tests.api.conftest import PROBLEM
from tests.factories import Program, enrol, receipt

CALLERS = (
    "none",
    "shopper",
    "other_shopper",
    "terminal",
    "other_terminal",
    "cashier",
    "marketer",
    "admin",
)
_serial = itertools.count(1)


@dataclass
class World:
    """A member with points at store BKK01 and everything they own, another member, and
    the headers of every caller. The member's store is BKK01; the other terminal is BKK02's."""

    app: Flask
    client: FlaskClient
    runner: FlaskCliRunner
    program: Program
    shopper_headers: Callable[[int], dict[str, str]]
    member: dict = field(default_factory=dict)
    other: dict = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "none":
            return {}
        if caller == "shopper":
            return self.shopper_headers(self.member["id"])
        if caller == "other_shopper":
            return self.shopper_headers(self.other["id"])
        store = {"terminal": "BKK01", "other_terminal": "BKK02"}.get(caller, caller)
        return self.program.headers(store)

    def ok(self, method: str, path: str, who: str = "admin", **kwargs: Any) -> dict:
        r = self.client.open(path, method=method, headers=self.program.headers(who), **kwargs)
        assert r.status_code < 300, (path, r.get_json())
        return r.get_json()

    def code(self) -> str:
        return self.ok("GET", f"/api/v1/members/{self.member['id']}/card/code")["code"]

    def redemption(self, **extra: Any) -> dict:
        """A fresh redemption of the member's points at BKK01's till."""
        body = {"member_id": self.member["id"], "points": 1, "code": self.code(), **extra}
        return self.ok("POST", "/api/v1/redemptions", "BKK01", json=body)

    def anonymous_receipt(self) -> str:
        external_id = f"ANON-{next(_serial)}"
        self.ok("POST", "/api/v1/transactions", "BKK01", json=receipt(external_id, "50.00"))
        return external_id


@pytest.fixture
def world(app, client, runner, program, shopper) -> World:
    w = World(app, client, runner, program, shopper)
    w.member = enrol(client, program, "BKK01", phone="0812345678", email="m@example.com")
    w.other = enrol(client, program, "BKK01", phone="0898765432", email="o@example.com")
    sale = receipt("SALE-1", "1000.00", {"member_no": w.member["member_no"]})
    w.ids["sale"] = w.ok("POST", "/api/v1/transactions", "BKK01", json=sale)["id"]
    reward = w.ok("POST", "/api/v1/rewards", json={"name": "Cookie", "points_cost": 1})
    w.ids["reward"] = reward["id"]
    made = w.redemption(points=1, reward_id=reward["id"])
    w.ids["redemption"], w.ids["voucher"] = made["id"], made["voucher_code"]
    return w


class Call(NamedTuple):
    path: str
    json: Any = None


Build = Callable[[World, str], Call]


def at(path: str) -> Build:
    """The same request for every caller; {member}, {sale}, … name the world's records."""

    def build(w: World, _caller: str) -> Call:
        return Call(path.format(member=w.member["id"], card=w.member["card"]["card_no"], **w.ids))

    return build


def with_body(path: str, body: dict) -> Build:
    def build(w: World, caller: str) -> Call:
        return Call(at(path)(w, caller).path, body)

    return build


def new_member(_w: World, caller: str) -> Call:
    return Call("/api/v1/members", {"name": "New", "phone": f"08123400{CALLERS.index(caller):02d}"})


def staff_login(_w: World, _caller: str) -> Call:
    return Call("/api/v1/auth/token", {"email": "admin@example.com", "password": "password123"})


def otp_request(_w: World, caller: str) -> Call:
    return Call("/api/v1/auth/otp/request", {"phone": f"08911100{CALLERS.index(caller):02d}"})


def otp_verify(w: World, caller: str) -> Call:
    """A right code, sent to one of the two members' phones or emails (the send limit is per
    destination)."""
    person = w.member if CALLERS.index(caller) % 2 else w.other
    key = "phone" if CALLERS.index(caller) % 4 < 2 else "email"
    w.ok("POST", "/api/v1/auth/otp/request", json={key: person[key]})
    result = w.runner.invoke(args=["messages", "list", "--to", person[key]])
    code = result.output.split("code is ")[1][:6]
    return Call("/api/v1/auth/otp/verify", {key: person[key], "code": code})


def resolve(w: World, _caller: str) -> Call:
    return Call("/api/v1/cards/resolve", {"code": w.code()})


def redeem(w: World, _caller: str) -> Call:
    return Call("/api/v1/redemptions", {"member_id": w.member["id"], "points": 1, "code": w.code()})


def cancel(w: World, _caller: str) -> Call:
    return Call(f"/api/v1/redemptions/{w.redemption()['id']}/cancel")


def use_voucher(w: World, _caller: str) -> Call:
    voucher = w.redemption(reward_id=w.ids["reward"])["voucher_code"]
    return Call(f"/api/v1/vouchers/{voucher}/use")


def new_sale(_w: World, _caller: str) -> Call:
    return Call("/api/v1/transactions", receipt(f"R-{next(_serial)}", "100.00"))


def new_batch(_w: World, _caller: str) -> Call:
    return Call(
        "/api/v1/transactions/batch", {"receipts": [receipt(f"RB-{next(_serial)}", "9.00")]}
    )


def claim(w: World, _caller: str) -> Call:
    body = {"external_id": w.anonymous_receipt(), "total": "50.00"}
    return Call("/api/v1/transactions/claim", body)


def new_store(_w: World, caller: str) -> Call:
    return Call("/api/v1/stores", {"code": f"NEW{CALLERS.index(caller)}", "name": "New store"})


def new_terminal(_w: World, _caller: str) -> Call:
    return Call("/api/v1/terminals", {"store": "BKK02", "name": "Till 9"})


def revoke_terminal(w: World, _caller: str) -> Call:
    spare = w.ok("POST", "/api/v1/terminals", json={"store": "BKK02", "name": "Spare"})
    return Call(f"/api/v1/terminals/{spare['id']}/revoke")


def new_user(_w: World, caller: str) -> Call:
    email = f"staff{CALLERS.index(caller)}@example.com"
    return Call("/api/v1/users", {"email": email, "role": "cashier", "password": "password123"})


TEMPLATE = {"locales": {"en": {"subject": "Hi {{ name }}", "body": "Hello {{ name }}"}}}


def saved_template(w: World, _caller: str) -> Call:
    w.ok("PUT", "/api/v1/message-templates/welcome", json=TEMPLATE)
    return Call("/api/v1/message-templates/welcome")


CAMPAIGN = {
    "name": "Weekend bonus",
    "trigger": "transaction.recorded",
    "effects": [{"type": "award_points", "points": 5}],
}


def campaign(suffix: str = "", *then: str, body: dict | None = None) -> Build:
    """A fresh draft campaign per caller, moved through the actions `then`, and its path."""

    def build(w: World, _caller: str) -> Call:
        made = w.ok("POST", "/api/v1/campaigns", json=CAMPAIGN)
        for action in then:
            w.ok("POST", f"/api/v1/campaigns/{made['id']}/{action}")
        return Call(f"/api/v1/campaigns/{made['id']}{suffix}", body)

    return build


def quote(w: World, _caller: str) -> Call:
    body = receipt("unused", "100.00", {"member_no": w.member["member_no"]})
    return Call(
        "/api/v1/quote", {k: v for k, v in body.items() if k not in ("external_id", "type")}
    )


def static_file(w: World, _caller: str) -> Call:
    folder = Path(w.app.static_folder or "")
    first = next(p for p in sorted(folder.rglob("*")) if p.is_file())
    return Call(f"/static/{first.relative_to(folder).as_posix()}")


def fitted_clv(w: World, _caller: str) -> Call:
    """The lifetime value model, fitted once the member has bought on a second day."""
    if "clv_model" not in w.ids:
        at_ = utcnow() - timedelta(days=30)
        sale = receipt("CLV-1", "80.00", {"member_no": w.member["member_no"]}, occurred_at=at_)
        w.ok("POST", "/api/v1/transactions", "BKK01", json=sale)
        fitted = w.runner.invoke(args=["clv", "fit"])
        assert fitted.exit_code == 0, fitted.output
        w.ids["clv_model"] = fitted.output.split()[2]
    return Call("/api/v1/analytics/clv")


def duplicate(w: World, caller: str) -> Call:
    """A fresh duplicate of the world's member per caller, to merge into it."""
    body = {"name": "Twin", "phone": f"08765400{CALLERS.index(caller):02d}"}
    twin = w.ok("POST", "/api/v1/members", json=body)
    path = f"/api/v1/members/{w.member['id']}/merge"
    return Call(path, {"from_member_id": twin["id"], "reason": "duplicate enrolment"})


def erasable(w: World, caller: str) -> Call:
    """A fresh member per caller, to erase."""
    body = {"name": "Leaving", "phone": f"08765500{CALLERS.index(caller):02d}"}
    leaving = w.ok("POST", "/api/v1/members", json=body)
    return Call(f"/api/v1/members/{leaving['id']}/erase", {"reason": "asked to be forgotten"})


SETTINGS = {"earn_rate": {"points": 1, "amount": "25.00"}, "points_expiry": {"months": 24}}
M = "/api/v1/members/<int:member_id>"
C = "/api/v1/campaigns/<int:campaign_id>"
S = "/api/v1/segments/<int:segment_id>"
PS = "/api/v1/pos-sources/<int:source_id>"
SEGMENT = {"name": "Spenders", "rule": {"fact": "spend", "op": "gte", "value": "100.00"}}


def segment(suffix: str = "") -> Build:
    """A fresh segment per caller, and its path."""

    def build(w: World, _caller: str) -> Call:
        made = w.ok("POST", "/api/v1/segments", json=SEGMENT)
        return Call(f"/api/v1/segments/{made['id']}{suffix}")

    return build


SOURCE_SECRET = "webhook-secret-1"
POS_SOURCE = {
    "kind": "loyverse",
    "name": "Loyverse shop",
    "base_url": "http://127.0.0.1:9",  # nothing listens: a sync ends at once in an error
    "credentials": {"access_token": "token-1"},
    "webhook_secret": SOURCE_SECRET,
    "stores": {"vendor-store-1": "BKK01"},
    "poll_minutes": 15,
}
WEBHOOK = {
    "merchant_id": "m",
    "type": "receipts.update",
    "created_at": "2026-12-01T00:00:00.000Z",
    "receipts": [],
}


def pos_source_id(w: World) -> int:
    """The world's POS source, connected once; a sync gives up after its first try."""
    w.app.config["POS_HTTP_ATTEMPTS"] = 1
    if "pos_source" not in w.ids:
        w.ids["pos_source"] = w.ok("POST", "/api/v1/pos-sources", json=POS_SOURCE)["id"]
    return w.ids["pos_source"]


def pos_source(suffix: str = "", body: dict | None = None, *, fresh: bool = False) -> Build:
    """The world's POS source (or a fresh one per caller, for a call that changes it) and
    its path."""

    def build(w: World, _caller: str) -> Call:
        if fresh:
            w.app.config["POS_HTTP_ATTEMPTS"] = 1
            made = w.ok("POST", "/api/v1/pos-sources", json=POS_SOURCE)["id"]
        else:
            made = pos_source_id(w)
        return Call(f"/api/v1/pos-sources/{made}{suffix}", body)

    return build


def pos_rejections(w: World, _caller: str) -> Call:
    """The rejections of a finished run of the world's source."""
    source = pos_source_id(w)
    if "pos_run" not in w.ids:
        w.ids["pos_run"] = w.ok("POST", f"/api/v1/pos-sources/{source}/sync", json={})["id"]
    return Call(f"/api/v1/pos-sources/{source}/runs/{w.ids['pos_run']}/rejections")


def pos_webhook(w: World, _caller: str) -> Call:
    """A delivery with the right token: no bearer needed, whoever sends it."""
    return Call(f"/api/v1/pos-webhooks/{pos_source_id(w)}?token={SOURCE_SECRET}", WEBHOOK)


def pos_transactions(w: World, _caller: str) -> Call:
    return Call(f"/api/v1/transactions?source={pos_source_id(w)}&page=1&per_page=50")


MARKETING = (401, 403, 403, 403, 403, 403, 200, 200)
PUBLIC = (200,) * 8
ADMIN_ONLY = (401, 403, 403, 403, 403, 403, 403)


class Row(NamedTuple):
    method: str
    rule: str
    build: Build
    expected: tuple[int, ...]


ROWS = [
    # method, rule, request            none shop othr term oterm cash mark admin
    Row("GET", "/", at("/"), PUBLIC),
    Row("GET", "/card", at("/card"), PUBLIC),
    Row("GET", "/till", at("/till"), PUBLIC),
    Row("GET", "/healthz", at("/healthz"), PUBLIC),
    Row("GET", "/readyz", at("/readyz"), PUBLIC),
    Row("GET", "/api/openapi.json", at("/api/openapi.json"), PUBLIC),
    Row("GET", "/api/docs", at("/api/docs"), PUBLIC),
    Row(
        "GET",
        "/api/docs/assets/<path:filename>",
        at("/api/docs/assets/swagger-ui.css"),
        PUBLIC,
    ),
    Row("POST", "/api/v1/auth/token", staff_login, PUBLIC),
    Row("POST", "/api/v1/auth/otp/request", otp_request, (202,) * 8),
    Row("POST", "/api/v1/auth/otp/verify", otp_verify, PUBLIC),
    Row("POST", "/api/v1/members", new_member, (401, 403, 403, 201, 201, 201, 403, 201)),
    Row("GET", M, at("/api/v1/members/{member}"), (401, 200, 404, 200, 200, 200, 200, 200)),
    Row(
        "PATCH",
        M,
        with_body("/api/v1/members/{member}", {"locale": "en"}),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "GET",
        f"{M}/consents",
        at("/api/v1/members/{member}/consents"),
        (401, 200, 404, 403, 403, 200, 200, 200),
    ),
    Row(
        "GET",
        f"{M}/card/code",
        at("/api/v1/members/{member}/card/code"),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "GET",
        f"{M}/card/qr.png",
        at("/api/v1/members/{member}/card/qr.png"),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "GET",
        f"{M}/card/qr.svg",
        at("/api/v1/members/{member}/card/qr.svg"),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "POST",
        f"{M}/card/replace",
        with_body("/api/v1/members/{member}/card/replace", {}),
        (401, 201, 404, 403, 403, 201, 403, 201),
    ),
    Row(
        "POST",
        f"{M}/cards/<card_no>/block",
        at("/api/v1/members/{member}/cards/{card}/block"),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "POST",
        f"{M}/cards/<card_no>/unblock",
        at("/api/v1/members/{member}/cards/{card}/unblock"),
        (401, 403, 403, 403, 403, 200, 403, 200),
    ),
    Row("POST", "/api/v1/cards/resolve", resolve, (401, 403, 403, 200, 200, 200, 403, 403)),
    Row(
        "GET",
        f"{M}/ledger",
        at("/api/v1/members/{member}/ledger"),
        (401, 200, 404, 200, 200, 200, 200, 200),
    ),
    Row(
        "POST",
        f"{M}/adjustments",
        with_body("/api/v1/members/{member}/adjustments", {"points": 5, "reason": "goodwill"}),
        (401, 403, 403, 403, 403, 403, 403, 201),
    ),
    Row("POST", "/api/v1/redemptions", redeem, (401, 201, 404, 201, 201, 201, 403, 201)),
    Row(
        "GET",
        "/api/v1/redemptions/<int:redemption_id>",
        at("/api/v1/redemptions/{redemption}"),
        (401, 200, 404, 200, 404, 200, 200, 200),
    ),
    Row(
        "POST",
        "/api/v1/redemptions/<int:redemption_id>/cancel",
        cancel,
        (401, 403, 403, 200, 404, 200, 403, 200),
    ),
    Row("GET", "/api/v1/rewards", at("/api/v1/rewards"), (401,) + (200,) * 7),
    Row(
        "POST",
        "/api/v1/rewards",
        with_body("/api/v1/rewards", {"name": "Tote bag", "points_cost": 50}),
        (401, 403, 403, 403, 403, 403, 201, 201),
    ),
    Row(
        "GET",
        "/api/v1/rewards/<int:reward_id>",
        at("/api/v1/rewards/{reward}"),
        (401,) + (200,) * 7,
    ),
    Row(
        "PATCH",
        "/api/v1/rewards/<int:reward_id>",
        with_body("/api/v1/rewards/{reward}", {"stock": 100}),
        (401, 403, 403, 403, 403, 403, 200, 200),
    ),
    Row(
        "GET",
        "/api/v1/vouchers/<code>",
        at("/api/v1/vouchers/{voucher}"),
        (401, 200, 404, 200, 200, 200, 403, 200),
    ),
    Row(
        "POST",
        "/api/v1/vouchers/<code>/use",
        use_voucher,
        (401, 403, 403, 200, 200, 200, 403, 403),
    ),
    Row(
        "GET",
        "/api/v1/vouchers/<code>/qr.png",
        at("/api/v1/vouchers/{voucher}/qr.png"),
        (401, 200, 404, 403, 403, 200, 403, 200),
    ),
    Row(
        "GET",
        "/api/v1/program/settings",
        at("/api/v1/program/settings"),
        (401, 403, 403, 403, 403, 403, 200, 200),
    ),
    Row(
        "PUT",
        "/api/v1/program/settings",
        with_body("/api/v1/program/settings", SETTINGS),
        (401, 403, 403, 403, 403, 403, 403, 200),
    ),
    Row("POST", "/api/v1/transactions", new_sale, (401, 403, 403, 201, 201, 403, 403, 403)),
    Row(
        "POST",
        "/api/v1/transactions/batch",
        new_batch,
        (401, 403, 403, 200, 200, 403, 403, 403),
    ),
    Row(
        "GET",
        "/api/v1/transactions/<int:transaction_id>",
        at("/api/v1/transactions/{sale}"),
        (401, 200, 404, 200, 404, 200, 200, 200),
    ),
    Row("POST", "/api/v1/transactions/claim", claim, (401, 200, 200, 403, 403, 403, 403, 403)),
    Row("GET", "/api/v1/stores", at("/api/v1/stores"), (401, 403, 403, 403, 403, 200, 200, 200)),
    Row("POST", "/api/v1/stores", new_store, (401, 403, 403, 403, 403, 403, 403, 201)),
    Row(
        "GET",
        "/api/v1/terminals",
        at("/api/v1/terminals"),
        (401, 403, 403, 403, 403, 403, 403, 200),
    ),
    Row("POST", "/api/v1/terminals", new_terminal, (401, 403, 403, 403, 403, 403, 403, 201)),
    Row(
        "POST",
        "/api/v1/terminals/<int:terminal_id>/revoke",
        revoke_terminal,
        (401, 403, 403, 403, 403, 403, 403, 200),
    ),
    Row("GET", "/api/v1/users", at("/api/v1/users"), (401, 403, 403, 403, 403, 403, 403, 200)),
    Row("POST", "/api/v1/users", new_user, (401, 403, 403, 403, 403, 403, 403, 201)),
    Row("GET", "/api/v1/audit", at("/api/v1/audit"), (401, 403, 403, 403, 403, 403, 403, 200)),
    Row("GET", "/api/v1/campaigns", at("/api/v1/campaigns"), MARKETING),
    Row(
        "POST",
        "/api/v1/campaigns",
        with_body("/api/v1/campaigns", CAMPAIGN),
        (401, 403, 403, 403, 403, 403, 201, 201),
    ),
    Row("GET", C, campaign(), MARKETING),
    Row("PATCH", C, campaign(body={"name": "Renamed"}), MARKETING),
    Row("POST", f"{C}/activate", campaign("/activate"), MARKETING),
    Row("POST", f"{C}/pause", campaign("/pause", "activate"), MARKETING),
    Row("POST", f"{C}/end", campaign("/end", "activate"), MARKETING),
    Row("GET", f"{C}/versions", campaign("/versions"), MARKETING),
    Row("POST", f"{C}/simulate", campaign("/simulate", body={"days": 7}), MARKETING),
    Row("GET", f"{C}/report", campaign("/report", "activate"), MARKETING),
    Row("GET", f"{C}/report.csv", campaign("/report.csv", "activate"), MARKETING),
    Row("GET", "/api/v1/analytics/program", at("/api/v1/analytics/program"), MARKETING),
    Row("GET", "/api/v1/analytics/program.csv", at("/api/v1/analytics/program.csv"), MARKETING),
    Row("POST", "/api/v1/quote", quote, (401, 403, 403, 200, 200, 200, 403, 403)),
    Row("GET", "/static/<path:filename>", static_file, PUBLIC),
    Row(
        "GET",
        "/api/v1/message-templates",
        at("/api/v1/message-templates"),
        (401, 403, 403, 403, 403, 403, 200, 200),
    ),
    Row(
        "GET",
        "/api/v1/message-templates/<code>",
        saved_template,
        (401, 403, 403, 403, 403, 403, 200, 200),
    ),
    Row(
        "PUT",
        "/api/v1/message-templates/<code>",
        with_body("/api/v1/message-templates/welcome", TEMPLATE),
        (401, 403, 403, 403, 403, 403, 200, 200),
    ),
    Row("GET", "/api/v1/tiers", at("/api/v1/tiers"), MARKETING),
    Row("GET", "/api/v1/tiers/versions", at("/api/v1/tiers/versions"), MARKETING),
    Row(
        "PUT",
        "/api/v1/tiers",
        with_body(
            "/api/v1/tiers",
            {
                "basis": "spend",
                "window": {"type": "calendar_year"},
                "tiers": [
                    {"code": "member", "threshold": "0"},
                    {"code": "silver", "threshold": "1000.00", "multiplier": "1.25"},
                ],
            },
        ),
        (401, 403, 403, 403, 403, 403, 403, 200),
    ),
    Row(
        "GET",
        f"{M}/metrics",
        at("/api/v1/members/{member}/metrics"),
        (401, 200, 404, 403, 403, 200, 200, 200),
    ),
    Row("GET", "/api/v1/analytics/clv", fitted_clv, MARKETING),
    Row("GET", "/api/v1/segments", at("/api/v1/segments"), MARKETING),
    Row(
        "POST",
        "/api/v1/segments",
        with_body("/api/v1/segments", SEGMENT),
        (401, 403, 403, 403, 403, 403, 201, 201),
    ),
    Row(
        "POST",
        "/api/v1/segments/preview",
        with_body("/api/v1/segments/preview", {"rule": SEGMENT["rule"]}),
        MARKETING,
    ),
    Row("GET", S, segment(), MARKETING),
    Row("DELETE", S, segment(), (401, 403, 403, 403, 403, 403, 204, 204)),
    Row("GET", f"{S}/members", segment("/members"), MARKETING),
    Row("GET", f"{S}/export.csv", segment("/export.csv"), MARKETING),
    Row("POST", f"{M}/merge", duplicate, (401, 403, 403, 403, 403, 403, 403, 200)),
    Row(
        "GET",
        f"{M}/timeline",
        at("/api/v1/members/{member}/timeline"),
        (401, 200, 404, 403, 403, 200, 200, 200),
    ),
    Row(
        "GET",
        f"{M}/export",
        at("/api/v1/members/{member}/export"),
        (401, 200, 404, 403, 403, 403, 403, 200),
    ),
    Row("POST", f"{M}/erase", erasable, (401, 403, 403, 403, 403, 403, 403, 200)),
    Row(
        "POST",
        "/api/v1/pos-sources",
        with_body("/api/v1/pos-sources", POS_SOURCE),
        (*ADMIN_ONLY, 201),
    ),
    Row("GET", "/api/v1/pos-sources", at("/api/v1/pos-sources"), (*ADMIN_ONLY, 200)),
    Row("GET", PS, pos_source(), (*ADMIN_ONLY, 200)),
    Row(
        "PATCH",
        PS,
        pos_source(body={"name": "Renamed", "poll_minutes": 30}, fresh=True),
        (*ADMIN_ONLY, 200),
    ),
    Row("DELETE", PS, pos_source(fresh=True), (*ADMIN_ONLY, 204)),
    Row(
        "POST",
        f"{PS}/sync",
        pos_source("/sync", {"since": "2026-11-01T00:00:00+07:00"}, fresh=True),
        (*ADMIN_ONLY, 200),
    ),
    Row("GET", f"{PS}/runs", pos_source("/runs"), (*ADMIN_ONLY, 200)),
    Row("GET", f"{PS}/runs/<int:run_id>/rejections", pos_rejections, (*ADMIN_ONLY, 200)),
    Row("POST", "/api/v1/pos-webhooks/<int:source_id>", pos_webhook, PUBLIC),
    Row("GET", "/api/v1/transactions", pos_transactions, MARKETING),
]


def endpoints(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_endpoint_has_a_row_in_the_role_matrix(app):
    rows = {(row.method, row.rule) for row in ROWS}
    assert len(rows) == len(ROWS), "a row appears twice"
    assert endpoints(app) - rows == set(), "endpoints without a row"
    assert rows - endpoints(app) == set(), "rows without an endpoint"


@pytest.mark.parametrize("row", ROWS, ids=[f"{row.method} {row.rule}" for row in ROWS])
def test_who_may_call(world, row):
    got: dict[str, int] = {}
    for caller in CALLERS:
        call = row.build(world, caller)
        r = world.client.open(
            call.path, method=row.method, json=call.json, headers=world.headers(caller)
        )
        r.get_data()  # a streamed body (the CSV export) runs to its end inside its request
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert r.mimetype == PROBLEM, (caller, r.mimetype)
    assert got == dict(zip(CALLERS, row.expected, strict=True))
