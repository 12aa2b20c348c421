"""Profile scores and lifetime value in SQL on the real database: RFM on a hand-made population,
the refresh run again, through the CLI and by a worker; `clv fit` on a synthetic history and on
CDNOW, its predictions, and what it does without enough history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from redis import Redis
from rq import Queue
from sqlalchemy import func, insert, select

from loyalty.extensions import db
from loyalty.unit_of_work import unit_of_work
from members import service
from members.metrics import clv
from members.metrics import jobs as metrics_jobs
from members.metrics import service as metrics
from members.models import ClvModel, Member, MemberAffinity, MemberDay, MemberMetrics
from tests.datasets import CDNOW_SAMPLE
from tests.factories import Program
from tests.integration.servers import service_env, wait_until

TODAY = date(2026, 6, 30)
NOW = datetime(2026, 6, 30, 5, 0, tzinfo=UTC)

# name: (days since the last purchase day, purchase days one day apart, spend a day in minor)
POPULATION = {
    "A": (1, 9, 90_000),
    "B": (2, 8, 100_000),
    "C": (10, 5, 40_000),
    "D": (12, 1, 10_000),
    "E": (20, 6, 50_000),
    "F": (30, 3, 30_000),
    "G": (100, 10, 120_000),
    "H": (120, 7, 70_000),
    "I": (300, 2, 20_000),
    "J": (400, 4, 35_000),
    "K": None,  # enrolled, never bought
}
# Ten buyers: two in each quintile of recency (last day), frequency (days) and average spend.
EXPECTED = {
    "A": (5, 5, 4, "Champions"),
    "B": (5, 4, 5, "Champions"),
    "C": (4, 3, 3, "Loyal"),
    "D": (4, 1, 1, "New"),
    "E": (3, 3, 3, "Loyal"),
    "F": (3, 2, 2, "Potential loyalist"),
    "G": (2, 5, 5, "Cannot lose them"),
    "H": (2, 4, 4, "At risk"),
    "I": (1, 1, 1, "Lost"),
    "J": (1, 2, 2, "Lost"),
    "K": (None, None, None, None),
}


def enrol(name: str) -> int:
    enrolment = service.Enrolment(name=f"Member {name}", external_ref=f"ref-{name}")
    return service.enrol_member(db.session, enrolment).id


def add_days(member_id: int, days: list[date], spend_minor: int) -> None:
    rows = [
        {"member_id": member_id, "day": d, "spend_minor": spend_minor, "purchases": 1, "points": 0}
        for d in days
    ]
    db.session.execute(insert(MemberDay), rows)


def populate(app: Flask, population: dict) -> dict[str, int]:
    """Members with purchase days written straight into the profile's history."""
    ids = {}
    with app.app_context():
        for name, history in population.items():
            ids[name] = enrol(name)
            if history is not None:
                last, count, spend = history
                add_days(ids[name], [TODAY - timedelta(days=last + k) for k in range(count)], spend)
        db.session.commit()
    return ids


def stored(app: Flask) -> dict[int, MemberMetrics]:
    with app.app_context():
        rows = db.session.scalars(select(MemberMetrics)).all()
        db.session.expunge_all()
        return {row.member_id: row for row in rows}


def rfm_of(app: Flask, ids: dict[str, int]) -> dict[str, tuple]:
    rows = stored(app)
    return {
        name: (rows[i].rfm_r, rows[i].rfm_f, rows[i].rfm_m, rows[i].rfm_segment)
        for name, i in ids.items()
    }


def refresh(app: Flask, today: date = TODAY, now: datetime = NOW) -> int:
    with app.app_context(), unit_of_work():
        return metrics.refresh_profiles(db.session, today, now)


# --- RFM and the refresh ---------------------------------------------------------------------


def test_rfm_scores_and_names_of_a_hand_made_population(app):
    ids = populate(app, POPULATION)

    assert refresh(app) == len(POPULATION)

    assert rfm_of(app, ids) == EXPECTED


def test_ties_are_split_by_member_id_the_lower_id_scoring_lower(app):
    ids = populate(app, {name: (5, 2, 10_000) for name in "VWXYZ"})

    refresh(app)

    assert [rfm_of(app, ids)[name][:3] for name in "VWXYZ"] == [(n, n, n) for n in range(1, 6)]


def test_rolling_spend_purchase_days_and_favourites(app, program: Program):
    ids = populate(app, {"A": (1, 3, 10_000), "J": (400, 4, 35_000), "K": None})
    bkk01, bkk02 = program.stores["BKK01"], program.stores["BKK02"]
    with app.app_context():
        add_days(ids["A"], [TODAY - timedelta(days=364)], 5_000)  # 12 months: after 2025-06-30
        add_days(ids["A"], [TODAY - timedelta(days=365)], 7_000)
        affinities = [
            ("category", "coffee", 5_000, 4),
            ("category", "bakery", 8_000, 1),
            ("category", "refunded", 0, 1),
            ("store", str(bkk01), 9_000, 2),
            ("store", str(bkk02), 3_000, 3),
        ]
        db.session.execute(
            insert(MemberAffinity),
            [
                {"member_id": ids["A"], "kind": k, "key": key, "spend_minor": s, "purchases": p}
                for k, key, s, p in affinities
            ],
        )
        db.session.commit()

    refresh(app)

    rows = stored(app)
    a, j, k = rows[ids["A"]], rows[ids["J"]], rows[ids["K"]]
    assert (a.spend_12m_minor, a.purchase_days) == (3 * 10_000 + 5_000, 5)
    assert (a.favourite_category, a.favourite_store_id) == ("bakery", bkk02)
    assert (j.spend_12m_minor, j.purchase_days, j.favourite_category) == (0, 4, None)
    assert (k.spend_12m_minor, k.purchase_days, k.favourite_store_id, k.rfm_r) == (0, 0, None, None)
    assert {row.refreshed_at for row in rows.values()} == {NOW}


def test_a_second_refresh_writes_the_same_scores(app):
    ids = populate(app, POPULATION)

    refresh(app)
    first = {i: _scores(row) for i, row in stored(app).items()}
    refresh(app, now=NOW + timedelta(hours=1))
    second = stored(app)

    assert {i: _scores(row) for i, row in second.items()} == first
    assert len(second) == len(ids)
    assert {row.refreshed_at for row in second.values()} == {NOW + timedelta(hours=1)}


def _scores(row: MemberMetrics) -> tuple:
    return (
        row.spend_12m_minor,
        row.purchase_days,
        row.favourite_category,
        row.favourite_store_id,
        row.rfm_r,
        row.rfm_f,
        row.rfm_m,
        row.rfm_segment,
    )


def test_a_refresh_moves_a_member_who_buys_again(app):
    ids = populate(app, POPULATION)
    refresh(app)
    with app.app_context():  # I, who was lost, comes back today and next day
        add_days(ids["I"], [TODAY, TODAY + timedelta(days=1)], 200_000)
        db.session.commit()

    refresh(app, TODAY + timedelta(days=1))

    assert rfm_of(app, ids)["I"] == (5, 2, 5, "Loyal")


def test_profiles_refresh_cli_reports_the_members_refreshed(app, runner: FlaskCliRunner):
    ids = populate(app, POPULATION)

    result = runner.invoke(args=["profiles", "refresh", "--as-of", TODAY.isoformat()])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{len(ids)} member profiles refreshed as of 2026-06-30"
    assert rfm_of(app, ids) == EXPECTED


def test_profiles_refresh_cli_refuses_a_bad_date(runner: FlaskCliRunner):
    result = runner.invoke(args=["profiles", "refresh", "--as-of", "30/06/2026"])

    assert result.exit_code == 2
    assert "use YYYY-MM-DD" in result.output


def test_a_worker_runs_the_periodic_refresh(app, redis_url, launcher, database_url):
    ids = populate(app, {"A": (1, 2, 10_000), "B": (3, 1, 5_000)})
    worker = launcher.worker(service_env(database_url, redis_url))

    with Redis.from_url(redis_url) as connection:
        Queue("default", connection=connection).enqueue(
            "loyalty.jobs.run_periodic", "refresh_profiles"
        )
        wait_until(
            lambda: len(stored(app)) == 2, "the profiles are refreshed", 30, worker, every=0.2
        )

    rows = stored(app)
    assert {rows[i].purchase_days for i in ids.values()} == {1, 2}
    assert all(row.refreshed_at is not None for row in rows.values())


# --- lifetime value --------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    ids: dict[int, int]  # customer number -> member id
    purchases: list[tuple[int, date, int]]  # (customer number, day, spend in minor units)


def simulate(customers: int, weeks: int, start: date, seed: int = 7) -> list[tuple[int, date, int]]:
    """BG/NBD customers (r=0.5, alpha=6, a=0.8, b=2.5) with Gamma spends, one purchase a day."""
    rng = np.random.default_rng(seed)
    purchases = []
    for customer in range(customers):
        rate, drop = rng.gamma(0.5, 1 / 6), rng.beta(0.8, 2.5)
        first = int(rng.integers(0, 7 * 8))
        days, t = {first}, float(first)
        while (t := t + rng.exponential(7 / max(rate, 1e-9))) < weeks * 7:
            days.add(int(t))
            if rng.random() < drop:
                break
        scale = rng.gamma(3.0, 10.0)
        purchases += [
            (customer, start + timedelta(days=d), int(rng.gamma(6, scale) * 100)) for d in days
        ]
    return purchases


def load(app: Flask, purchases: list[tuple[int, date, int]]) -> History:
    """Members and their purchase days, written in bulk."""
    customers = sorted({c for c, _, _ in purchases})
    with app.app_context():
        rows = [{"member_no": f"SIM{c}", "name": f"Customer {c}"} for c in customers]
        db.session.execute(insert(Member), rows)
        numbers = select(Member.member_no, Member.id).where(Member.member_no.like("SIM%"))
        ids = {int(no[3:]): member_id for no, member_id in db.session.execute(numbers)}
        days: dict[tuple[int, date], int] = {}
        for c, day, spend in purchases:
            days[(ids[c], day)] = days.get((ids[c], day), 0) + spend
        db.session.execute(
            insert(MemberDay),
            [
                {"member_id": m, "day": d, "spend_minor": s, "purchases": 1, "points": 0}
                for (m, d), s in days.items()
            ],
        )
        db.session.commit()
    return History(ids, purchases)


def fit_cli(runner: FlaskCliRunner, *args: str):
    return runner.invoke(args=["clv", "fit", *args])


def test_clv_fit_on_a_synthetic_history_stores_the_model_and_every_prediction(app, runner):
    start, end = date(2025, 1, 1), date(2025, 9, 30)
    history = load(app, simulate(400, 52, start))

    result = fit_cli(runner, "--as-of", end.isoformat(), "--calibration-start", start.isoformat())

    assert result.exit_code == 0, result.output
    pure = clv.fit(clv.summarise(_in_major(history.purchases), end), end)
    with app.app_context():
        model = db.session.scalars(select(ClvModel)).one()
        assert (model.calibration_start, model.calibration_end) == (start, end)
        assert (model.members, model.repeat_buyers) == (pure.customers, pure.repeat_customers)
        for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
            assert float(model.params[name]) == pytest.approx(getattr(pure, name), rel=1e-6)
    assert f"CLV model {model.id} fitted on {pure.customers} members" in result.output
    _check_predictions(app, history, pure, end)


def _in_major(purchases):
    return [(c, d, s / 100) for c, d, s in purchases]


def _check_predictions(app: Flask, history: History, fit: clv.FitResult, end: date) -> None:
    """Each member's stored figures are the models' predictions for their calibration history."""
    summaries = clv.summarise(_in_major(history.purchases), end)
    rows = stored(app)
    assert len(rows) == len(history.ids)
    for s in summaries:
        row = rows[history.ids[s.customer_id]]
        args = (s.frequency, s.recency, s.age)
        purchases = clv.expected_purchases(fit.bgnbd, 365 / 7, *args)[()]
        spend = clv.expected_spend(fit.gamma_gamma, s.frequency, s.mean_spend)[()]
        assert float(row.clv_purchases_365) == pytest.approx(purchases, abs=1e-4)
        assert float(row.clv_p_alive) == pytest.approx(clv.p_alive(fit.bgnbd, *args)[()], abs=1e-6)
        assert row.clv_value_365_minor == pytest.approx(purchases * spend * 100, abs=1)
        if s.frequency == 0:
            assert row.clv_p_alive == 1


def test_a_later_fit_clears_the_predictions_of_members_outside_its_window(app, runner):
    history = load(app, simulate(200, 40, date(2025, 1, 1)))
    assert fit_cli(runner, "--as-of", "2025-10-31").exit_code == 0
    late = {c for c, d, _ in history.purchases if d >= date(2025, 3, 1)}

    result = fit_cli(runner, "--as-of", "2025-10-31", "--calibration-start", "2025-03-01")

    assert result.exit_code == 0, result.output
    rows = stored(app)
    for customer, member_id in history.ids.items():
        assert (rows[member_id].clv_p_alive is not None) == (customer in late)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ClvModel)) == 2


def test_clv_fit_without_a_repeat_purchase_says_so_and_stores_nothing(app, runner):
    populate(app, {"D": (12, 1, 10_000), "K": None})

    result = fit_cli(runner, "--as-of", TODAY.isoformat())

    assert result.exit_code == 1
    assert "Cannot fit a lifetime value model" in result.output
    assert "repeat purchase" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ClvModel)) == 0
        with_clv = select(func.count()).where(MemberMetrics.clv_p_alive.is_not(None))
        assert db.session.scalar(with_clv) == 0
        assert metrics_jobs.fit_today(db.session, "Asia/Bangkok") is None  # the periodic job


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2026-13-01"], "use YYYY-MM-DD"),
        (["--calibration-start", "yesterday"], "use YYYY-MM-DD"),
        (["--as-of", "2026-01-01", "--calibration-start", "2026-02-01"], "must not be after"),
    ],
)
def test_clv_fit_refuses_bad_dates(runner, args, message):
    result = fit_cli(runner, *args)

    assert result.exit_code == 2
    assert message in result.output


def test_clv_fit_on_cdnow_reproduces_the_published_parameters(app, runner):
    purchases = []
    for line in CDNOW_SAMPLE.read_text().splitlines():
        _master, sample_id, day, _cds, value = line.split()
        when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        purchases.append((int(sample_id), when, round(float(value) * 100)))
    load(app, purchases)

    result = fit_cli(runner, "--as-of", "1997-09-30", "--calibration-start", "1997-01-01")

    assert result.exit_code == 0, result.output
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74}
    published["gamma"] = 15.44
    with app.app_context():
        model = db.session.scalars(select(ClvModel)).one()
    assert (model.members, model.repeat_buyers) == (2357, 946)
    for name, value in published.items():
        assert float(model.params[name]) == pytest.approx(value, rel=0.01), name
