"""The CDNOW sample imported through `flask import receipts`, then `flask clv fit` on weeks
1-39: the published BG/NBD and Gamma-Gamma parameters come back within 1%."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from loyalty import create_app, staff
from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members.models import ClvModel, Member, MemberDay
from pos_adapters.csv_import import COLUMNS
from rewards.models import Transaction
from tests import conftest
from tests.datasets import CDNOW_SAMPLE
from tests.unit.test_clv import PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA

SAMPLE_ROWS, SAMPLE_CUSTOMERS, REPEAT_BUYERS = 6919, 2357, 946


def cdnow_csv(source: Path, target: Path) -> Path:
    """The sample in the import's format: a receipt per purchase row, the master id as
    customer_ref, the day at noon program time (no offset), the amount as total and price."""
    with target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for number, line in enumerate(source.read_text().splitlines(), start=1):
            master_id, _sample_id, day, _cds, amount = line.split()
            when = f"{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00"
            writer.writerow(
                [f"CDNOW-{number}", when, master_id, amount, "", "CD", "music", 1, amount]
            )
    return target


@pytest.fixture(scope="module")
def imported(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, Result]]:
    """The sample imported once for the module (it takes minutes) with --enrol-unknown."""
    app = create_app(conftest.test_config(database_url))
    with app.app_context(), unit_of_work():
        staff.create_store(db.session, "CDN", "CDNOW")
    path = cdnow_csv(CDNOW_SAMPLE, tmp_path_factory.mktemp("cdnow") / "cdnow.csv")
    result = app.test_cli_runner().invoke(
        args=["import", "receipts", str(path), "--store", "CDN", "--enrol-unknown"]
    )
    yield app, result
    with app.app_context():
        conftest.empty_database()
        db.engine.dispose()


def test_the_sample_imports_as_one_member_per_customer_and_one_day_per_purchase_day(imported):
    app, result = imported
    assert result.exit_code == 0, result.output
    assert f"{SAMPLE_ROWS} receipts recorded, 0 already there, 0 rejected" in result.output
    assert f"{SAMPLE_CUSTOMERS} members enrolled" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Member)) == SAMPLE_CUSTOMERS
        processed = select(func.count()).where(Transaction.status == "processed")
        assert db.session.scalar(processed) == SAMPLE_ROWS
        days = db.session.execute(
            select(func.count(), func.sum(MemberDay.purchases), func.sum(MemberDay.spend_minor))
        ).one()
    source = [line.split() for line in CDNOW_SAMPLE.read_text().splitlines()]
    distinct_days = {(row[0], row[2]) for row in source}
    total_minor = sum(int(row[4].replace(".", "")) for row in source)
    assert tuple(days) == (len(distinct_days), SAMPLE_ROWS, total_minor)


def test_clv_fit_on_weeks_1_to_39_reproduces_the_published_parameters(imported):
    app, result = imported
    assert result.exit_code == 0, result.output
    fitted = app.test_cli_runner().invoke(
        args=["clv", "fit", "--as-of", "1997-09-30", "--calibration-start", "1997-01-01"]
    )
    assert fitted.exit_code == 0, fitted.output
    with app.app_context():
        model = db.session.scalars(select(ClvModel).order_by(ClvModel.id.desc())).first()
        assert model is not None
        assert (model.members, model.repeat_buyers) == (SAMPLE_CUSTOMERS, REPEAT_BUYERS)
        params = {name: float(value) for name, value in model.params.items()}
    for name, published in {**PUBLISHED_BGNBD, **PUBLISHED_GAMMA_GAMMA}.items():
        assert params[name] == pytest.approx(published, rel=0.01), name
