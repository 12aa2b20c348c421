"""The unit of work: services compose into one transaction that the edge commits once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from loyalty import staff
from loyalty.errors import Conflict
from loyalty.extensions import db
from loyalty.models import Store, Terminal
from loyalty.unit_of_work import keep_on_failure, unit_of_work


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def stores() -> int:
    with unit_of_work():
        return db.session.scalar(select(func.count()).select_from(Store))


def open_store_twice() -> None:
    with unit_of_work():
        staff.create_store(db.session, "BKK09", "Ari")
        staff.create_terminal(db.session, "BKK09", "Till 1")
        staff.create_store(db.session, "BKK09", "Ari again")  # the code is taken: Conflict


def test_two_services_in_one_unit_of_work_roll_back_together_when_the_second_raises(ctx):
    with pytest.raises(Conflict):
        open_store_twice()
    assert stores() == 0
    assert db.session.scalar(select(func.count()).select_from(Terminal)) == 0


def test_a_unit_of_work_commits_once_when_its_block_ends(ctx):
    with unit_of_work():
        staff.create_store(db.session, "BKK09", "Ari")
        staff.create_store(db.session, "BKK10", "Ekkamai")
    db.session.remove()  # a new session sees only what was committed
    assert stores() == 2


def inner_unit_then_failure() -> None:
    with unit_of_work():
        with unit_of_work():
            staff.create_store(db.session, "BKK09", "Ari")
        raise RuntimeError("the outer unit fails after the inner one ended")


def test_a_unit_opened_inside_another_joins_it_and_rolls_back_with_it(ctx):
    with pytest.raises(RuntimeError):
        inner_unit_then_failure()
    assert stores() == 0


def kept_work_then_failure() -> None:
    with unit_of_work():
        keep_on_failure(db.session, lambda s: staff.create_store(s, "BKK09", "Ari"))
        staff.create_store(db.session, "BKK10", "Ekkamai")
        raise RuntimeError("the unit fails")


def test_work_kept_on_failure_outlives_the_rolled_back_unit_and_runs_once(ctx):
    with pytest.raises(RuntimeError):
        kept_work_then_failure()
    codes = db.session.scalars(select(Store.code)).all()
    assert codes == ["BKK09"]


def test_work_kept_on_failure_is_simply_part_of_a_committed_unit(ctx):
    with unit_of_work():
        keep_on_failure(db.session, lambda s: staff.create_store(s, "BKK09", "Ari"))
    with unit_of_work():  # nothing kept from the first unit runs again
        pass
    assert stores() == 1
