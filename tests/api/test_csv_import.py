"""`flask import receipts`: receipt history from CSV, recorded and processed like POS pushes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from loyalty.extensions import db
from loyalty.models import OutboxMessage
from loyalty.unit_of_work import unit_of_work
from members.models import Card, Member, MemberDay
from members.service import Enrolment, enrol_member
from rewards.models import JournalEntry, Transaction

HEADER = "external_id,occurred_at,customer_ref,total,currency,sku,category,quantity,unit_price"
GOOD = (
    "R-1,2024-03-01T10:00:00+07:00,OLD-1,250.00,THB,CF-LATTE,coffee,2,75.00",
    "R-1,2024-03-01T10:00:00+07:00,OLD-1,250.00,THB,DS-MANGO,dessert,1,100.00",
    "R-2,2024-03-05T18:30:00+07:00,OLD-2,100.00,THB,CF-AMER,coffee,1,100.00",
    "R-3,2024-03-06T09:00:00+07:00,,75.00,THB,CF-LATTE,coffee,1,75.00",
)


@pytest.fixture
def csv_file(tmp_path: Path):
    """Write a CSV file with the import's header and these rows."""

    def write(*rows: str, header: str = HEADER, name: str = "history.csv") -> Path:
        path = tmp_path / name
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def known(app: Flask, program) -> dict[str, int]:
    """Members the old system called OLD-1 and OLD-2."""
    with app.app_context(), unit_of_work():
        return {
            ref: enrol_member(
                db.session, Enrolment(name=f"Member {ref}", phone=phone, external_ref=ref)
            ).id
            for ref, phone in (("OLD-1", "0812345671"), ("OLD-2", "0812345672"))
        }


def run_import(runner: FlaskCliRunner, path: Path, *options: str) -> Result:
    return runner.invoke(args=["import", "receipts", str(path), "--store", "BKK01", *options])


def rows(app: Flask, model, *where) -> list:
    with app.app_context():
        return list(db.session.scalars(select(model).where(*where)))


def count(app: Flask, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_rows_of_one_external_id_become_one_processed_receipt_with_its_lines(
    app, runner, known, csv_file
):
    result = run_import(runner, csv_file(*GOOD))
    assert result.exit_code == 0, result.output
    assert "3 receipts recorded, 0 already there, 0 rejected; 0 members enrolled" in result.output
    by_id = {t.external_id: t for t in rows(app, Transaction)}
    assert sorted(by_id) == ["R-1", "R-2", "R-3"]
    first = by_id["R-1"]
    assert (first.total_minor, first.member_id, first.source) == (25000, known["OLD-1"], "csv")
    assert [(i["sku"], i["category"], i["quantity"], i["unit_price"]) for i in first.items] == [
        ("CF-LATTE", "coffee", "2", "75.00"),
        ("DS-MANGO", "dessert", "1", "100.00"),
    ]
    assert first.occurred_at == datetime(2024, 3, 1, 3, 0, tzinfo=UTC)
    assert by_id["R-3"].member_id is None  # no customer_ref: an anonymous sale
    assert {t.status for t in by_id.values()} == {"processed"}
    assert first.points_awarded == 10  # the base rule, 1 point per 25.00
    member = rows(app, Member, Member.id == known["OLD-1"])[0]
    assert (member.points_balance, member.visits) == (10, 1)
    assert {t.points_pending for t in by_id.values()} == {0}


def test_importing_the_same_file_again_changes_nothing(app, runner, known, csv_file):
    path = csv_file(*GOOD)
    assert run_import(runner, path, "--enrol-unknown").exit_code == 0
    before = (count(app, Transaction), count(app, JournalEntry), count(app, Member))
    again = run_import(runner, path, "--enrol-unknown")
    assert again.exit_code == 0, again.output
    assert "0 receipts recorded, 3 already there, 0 rejected; 0 members enrolled" in again.output
    assert (count(app, Transaction), count(app, JournalEntry), count(app, Member)) == before
    assert rows(app, OutboxMessage, OutboxMessage.status != "done") == []


def test_bad_rows_are_rejected_with_their_line_and_reason_and_the_good_ones_imported(
    app, runner, known, csv_file
):
    path = csv_file(
        "A-1,2024-03-01T10:00:00+07:00,OLD-1,12.5x,THB,CF-LATTE,coffee,1,12.50",
        "A-2,2024-03-01T11:00:00+07:00,OLD-1,75.00,THB,CF-LATTE,coffee,1,75.00",
        "A-3,2024-03-02T10:00:00+07:00,NOBODY,75.00,THB,CF-LATTE,coffee,1,75.00",
        "A-4,2024-03-03T10:00:00+07:00,OLD-2,150.00,THB,CF-LATTE,coffee,1,75.00",
        "A-4,2024-03-03T10:00:00+07:00,OLD-2,140.00,THB,CF-AMER,coffee,1,65.00",
        "A-5,yesterday,OLD-2,75.00,THB,CF-LATTE,coffee,1,75.00",
        "A-6,2024-03-04T10:00:00+07:00,OLD-2,100.00,THB,CF-LATTE,coffee,1,-1.00",
        "A-7,2024-03-05T10:00:00+07:00,OLD-2,80.00,THB,CF-LATTE,coffee,1,80.00",
    )
    result = run_import(runner, path)
    assert result.exit_code == 1, result.output
    assert "2 receipts recorded, 0 already there, 5 rejected" in result.output
    lines = [line.strip() for line in result.output.splitlines() if line.startswith("  line ")]
    assert lines == [
        'line 2: A-1: total: must be a decimal string such as "130.00"',
        "line 4: A-3: customer_ref: no member has this id (--enrol-unknown enrols one)",
        "line 6: A-4: total: '140.00' differs from line 5",
        "line 7: A-5: occurred_at: must be an ISO 8601 date and time, "
        "e.g. 2024-05-01T14:30:00+07:00",
        'line 8: A-6: unit_price: must be a decimal string such as "130.00"',
    ]
    assert sorted(t.external_id for t in rows(app, Transaction)) == ["A-2", "A-7"]
    assert count(app, Member) == 2  # NOBODY was not enrolled


def test_a_line_item_error_names_the_line_of_that_item(app, runner, known, csv_file):
    path = csv_file(
        "B-1,2024-03-01T10:00:00+07:00,OLD-1,150.00,THB,CF-LATTE,coffee,1,75.00",
        "B-1,2024-03-01T10:00:00+07:00,OLD-1,150.00,THB,CF-LATTE,coffee,0,75.00",
        "B-2,2024-03-01T10:00:00+07:00,OLD-1,75.00,THB,,coffee,1,75.00",
    )
    result = run_import(runner, path)
    assert result.exit_code == 1
    assert "line 3: B-1: quantity: must be a positive integer or decimal string" in result.output
    assert "line 4: B-2: sku: Length must be between 1 and 64." in result.output
    assert rows(app, Transaction) == []


def test_an_external_id_reused_with_another_body_is_a_conflict(app, runner, known, csv_file):
    assert run_import(runner, csv_file(*GOOD)).exit_code == 0
    changed = csv_file(
        "R-2,2024-03-05T18:30:00+07:00,OLD-2,90.00,THB,CF-AMER,coffee,1,90.00", name="again.csv"
    )
    result = run_import(runner, changed)
    assert result.exit_code == 1
    assert "line 2: R-2: This external_id was already used for a different receipt." in (
        result.output
    )
    assert rows(app, Transaction, Transaction.external_id == "R-2")[0].total_minor == 10000
    other_customer = csv_file(
        "R-3,2024-03-06T09:00:00+07:00,OLD-1,75.00,THB,CF-LATTE,coffee,1,75.00", name="mine.csv"
    )
    result = run_import(runner, other_customer)
    assert "line 2: R-3: This external_id was already used for a different receipt." in (
        result.output
    )
    assert rows(app, Transaction, Transaction.external_id == "R-3")[0].member_id is None


def test_a_customer_ref_names_the_member_a_merged_one_went_into_and_never_several(
    app, runner, known, csv_file
):
    with app.app_context():
        survivor = enrol_member(db.session, Enrolment(name="Survivor", phone="0812345673")).id
        for n in (1, 2):
            twin = Enrolment(name=f"Twin {n}", phone=f"081234568{n}", external_ref="TWIN")
            enrol_member(db.session, twin)
        merged = db.session.get(Member, known["OLD-1"])
        merged.merged_into_id = survivor
        db.session.commit()
    path = csv_file(
        "M-1,2024-03-01T10:00:00+07:00,OLD-1,75.00,THB,CF-LATTE,coffee,1,75.00",
        "M-2,2024-03-01T10:00:00+07:00,TWIN,75.00,THB,CF-LATTE,coffee,1,75.00",
    )
    result = run_import(runner, path, "--enrol-unknown")
    assert result.exit_code == 1
    assert "line 3: M-2: customer_ref: several members have this id" in result.output
    [sale] = rows(app, Transaction)
    assert sale.member_id == survivor
    assert count(app, Member) == 5  # nobody enrolled for TWIN


def test_enrol_unknown_makes_a_member_without_contact_details_from_their_first_receipt(
    app, runner, program, csv_file
):
    path = csv_file(
        "N-2,2024-04-02T12:00:00+07:00,CUST-9,60.00,,CF-AMER,coffee,1,60.00",
        "N-1,2024-04-01T12:00:00+07:00,CUST-9,50.00,,CF-LATTE,coffee,1,50.00",
    )
    result = run_import(runner, path, "--enrol-unknown")
    assert result.exit_code == 0, result.output
    assert "1 members enrolled" in result.output
    [member] = rows(app, Member)
    assert (member.name, member.external_ref, member.phone, member.email) == (
        "Customer CUST-9",
        "CUST-9",
        None,
        None,
    )
    assert member.enrolled_at == datetime(2024, 4, 1, 5, 0, tzinfo=UTC)  # the first receipt
    assert member.enrolled_store_id == program.stores["BKK01"]
    assert len(rows(app, Card, Card.member_id == member.id)) == 1
    assert {t.member_id for t in rows(app, Transaction)} == {member.id}
    assert (member.visits, member.lifetime_spend_minor) == (2, 11000)


def test_history_before_2000_and_times_without_offset_are_program_time(
    app, runner, program, csv_file
):
    path = csv_file(
        "C-1,1997-01-01T12:00:00,7,29.33,THB,CD,music,1,29.33",
        "C-2,1997-01-18 12:00,7,29.73,THB,CD,music,1,29.73",
    )
    result = run_import(runner, path, "--enrol-unknown", "--batch", "1")
    assert result.exit_code == 0, result.output
    days = rows(app, MemberDay)
    assert sorted((d.day, d.spend_minor, d.purchases) for d in days) == [
        (date(1997, 1, 1), 2933, 1),
        (date(1997, 1, 18), 2973, 1),
    ]


def test_a_receipt_in_the_future_or_in_another_currency_is_rejected(app, runner, known, csv_file):
    path = csv_file(
        "F-1,2099-01-01T12:00:00+07:00,OLD-1,75.00,THB,CF-LATTE,coffee,1,75.00",
        "F-2,2024-01-01T12:00:00+07:00,OLD-1,75.00,USD,CF-LATTE,coffee,1,75.00",
        "F-3,2024-01-01T12:00:00+07:00,OLD-1,75.00,XYZ,CF-LATTE,coffee,1,75.00",
    )
    result = run_import(runner, path)
    assert result.exit_code == 1
    assert "line 2: F-1: occurred_at: must not be in the future" in result.output
    assert "line 3: F-2: currency: the program's currency is THB" in result.output
    assert "line 4: F-3: currency: Must be one of:" in result.output
    assert rows(app, Transaction) == []


def test_a_file_without_a_required_column_or_an_unknown_store_imports_nothing(
    app, runner, known, csv_file
):
    no_total = csv_file(
        "R-1,2024-03-01T10:00:00+07:00,OLD-1,THB,CF-LATTE,coffee,1,75.00",
        header=HEADER.replace("total,", ""),
    )
    result = run_import(runner, no_total)
    assert result.exit_code == 2
    assert "missing columns: total" in result.output
    result = runner.invoke(args=["import", "receipts", str(csv_file(*GOOD)), "--store", "NOPE"])
    assert result.exit_code == 2
    assert "no store NOPE" in result.output
    assert rows(app, Transaction) == []


def test_receipts_are_recorded_oldest_first_whatever_the_order_of_the_file(
    app, runner, known, csv_file
):
    path = csv_file(
        "L-3,2024-05-03T10:00:00+07:00,OLD-1,30.00,THB,CF-LATTE,coffee,1,30.00",
        "L-1,2024-05-01T10:00:00+07:00,OLD-1,10.00,THB,CF-LATTE,coffee,1,10.00",
        "L-2,2024-05-02T10:00:00+07:00,OLD-1,20.00,THB,CF-LATTE,coffee,1,20.00",
    )
    assert run_import(runner, path, "--batch", "2").exit_code == 0
    recorded = sorted(rows(app, Transaction), key=lambda t: t.id)
    assert [t.external_id for t in recorded] == ["L-1", "L-2", "L-3"]
    member = rows(app, Member, Member.id == known["OLD-1"])[0]
    assert member.first_purchase_at == datetime(2024, 5, 1, 3, 0, tzinfo=UTC)
    assert member.last_purchase_at == datetime(2024, 5, 3, 3, 0, tzinfo=UTC)


def test_with_several_workers_the_engine_runs_beside_the_recording_and_misses_nothing(
    app, runner, program, csv_file
):
    lines = [
        f"W-{n},2024-0{1 + n % 9}-{1 + n % 28:02d}T10:{n % 60:02d}:00+07:00,C-{n % 37},"
        f"{25 + n}.00,THB,CF-{n % 5},coffee,1,{25 + n}.00"
        for n in range(300)
    ]
    result = run_import(
        runner, csv_file(*lines), "--enrol-unknown", "--workers", "3", "--batch", "20"
    )
    assert result.exit_code == 0, result.output
    assert (
        "300 receipts recorded, 0 already there, 0 rejected; 37 members enrolled" in result.output
    )
    assert {t.status for t in rows(app, Transaction)} == {"processed"}
    assert rows(app, OutboxMessage, OutboxMessage.status != "done") == []
    members = rows(app, Member)
    assert sum(m.visits for m in members) == 300
    assert sum(m.points_balance for m in members) == sum((25 + n) // 25 for n in range(300))
    with app.app_context():
        earned = db.session.scalar(select(func.sum(JournalEntry.points)))
        days = db.session.scalar(select(func.sum(MemberDay.purchases)))
    assert (earned, days) == (sum(m.points_balance for m in members), 300)
