"""Customer lifetime value for the program: BG/NBD and Gamma-Gamma (`metrics/clv.py`) fitted
on the members' purchase days, kept in `clv_models`, and each member's predictions written into
`member_metrics`.

A member's calibration history is their purchase days (`member_days.purchases > 0`) from the
window's start to its end, both included; time is in weeks, spend in major units.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from loyalty.bulk import upsert_rows
from members.metrics import clv
from members.models import ClvModel, MemberDay, MemberMetrics

HORIZON_DAYS = 365
PARAMS = ("r", "alpha", "a", "b", "p", "q", "gamma")
PREDICTIONS = ("clv_purchases_365", "clv_p_alive", "clv_value_365_minor")
READ_BATCH = 50_000
WRITE_BATCH = 50_000
# Predictions at or above these are not stored: a degenerate fit can predict absurd figures.
MOST_PURCHASES, MOST_MINOR = 1e9, 1e15
Vector = NDArray[np.float64]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Histories:
    """One entry per member who bought in the window, in member id order."""

    member_ids: NDArray[np.int64]
    x: Vector  # repeat purchase days
    t_x: Vector  # weeks from the first to the last purchase day
    T: Vector  # weeks from the first purchase day to the window's end
    m: Vector  # mean spend of the repeat purchase days; 0 without any
    first_day: date | None  # the earliest first purchase day


@dataclass(frozen=True)
class Predictions:
    purchases: Vector  # expected purchase days in the next 365 days
    p_alive: Vector
    value: Vector  # expected spend in the next 365 days, major units


def histories(session: Session, start: date | None, end: date) -> Histories:
    """Each member's (x, t_x, T, m) over the purchase days from `start` (or the first) to `end`."""
    d, first = MemberDay, aliased(MemberDay)
    per_member = (
        select(
            d.member_id,
            func.min(d.day).label("first_day"),
            func.max(d.day).label("last_day"),
            func.count().label("days"),
            func.sum(d.spend_minor).label("spend"),
        )
        .where(*_window(start, end))
        .group_by(d.member_id)
        .subquery()
    )
    c = per_member.c
    stmt = (
        select(c.member_id, c.first_day, c.last_day, c.days, c.spend, first.spend_minor)
        .join(first, and_(first.member_id == c.member_id, first.day == c.first_day))
        .order_by(c.member_id)
        .execution_options(yield_per=READ_BATCH)
    )
    columns = [np.concatenate(parts) for parts in zip(*_chunks(session, stmt), strict=True)]
    ids, first_days, last_days, days, spend, first_spend = columns or [np.zeros(0)] * 6
    x = days.astype(float) - 1
    repeat_spend = (spend - first_spend).astype(float) / 100
    return Histories(
        member_ids=ids.astype(np.int64),
        x=x,
        t_x=(last_days - first_days) / 7,
        T=(end.toordinal() - first_days) / 7,
        m=np.divide(repeat_spend, x, out=np.zeros_like(x), where=x > 0),
        first_day=date.fromordinal(int(first_days.min())) if len(ids) else None,
    )


def _window(start: date | None, end: date) -> list:
    d = MemberDay
    window = [d.purchases > 0, d.day <= end]
    return [*window, d.day >= start] if start else window


def _chunks(session: Session, stmt) -> Iterator[tuple[NDArray[np.int64], ...]]:
    """The rows as integer columns (days as ordinals), a batch at a time."""
    for rows in session.connection().execute(stmt).partitions():
        ids, first, last, days, spend, first_spend = zip(*rows, strict=True)
        yield (
            np.array(ids, dtype=np.int64),
            np.array([day.toordinal() for day in first], dtype=np.int64),
            np.array([day.toordinal() for day in last], dtype=np.int64),
            np.array(days, dtype=np.int64),
            np.array(spend, dtype=np.int64),
            np.array(first_spend, dtype=np.int64),
        )


def fit_histories(h: Histories, start: date | None, end: date) -> clv.FitResult:
    """Both models on these histories; raises clv.NotEnoughHistory without repeat purchases."""
    if not len(h.member_ids):
        raise clv.NotEnoughHistory("no member bought in the calibration window")
    started = time.perf_counter()
    # A history too small to pin the models down sends the optimisers through overflows;
    # that shows as `converged` False, not as warnings in the job's log.
    with np.errstate(all="ignore"):
        bgnbd, spend = clv.fit_bgnbd(h.x, h.t_x, h.T), clv.fit_gamma_gamma(h.x, h.m)
    assert h.first_day is not None
    return clv.FitResult(
        *bgnbd.params,
        *spend.params,
        calibration_start=start or h.first_day,
        calibration_end=end,
        customers=len(h.member_ids),
        repeat_customers=int(np.count_nonzero(h.x)),
        bgnbd_log_likelihood=bgnbd.log_likelihood,
        gamma_gamma_log_likelihood=spend.log_likelihood,
        converged=bgnbd.converged and spend.converged,
        fit_seconds=time.perf_counter() - started,
    )


def predict(fit: clv.FitResult, h: Histories) -> Predictions:
    """Expected purchase days, P(alive) and spend over the next 365 days from the window's end.

    Values the models cannot give (not finite) come out as NaN.
    """
    with np.errstate(all="ignore"):
        purchases = clv.expected_purchases(fit.bgnbd, HORIZON_DAYS / 7, h.x, h.t_x, h.T)
        alive = clv.p_alive(fit.bgnbd, h.x, h.t_x, h.T)
        value = purchases * clv.expected_spend(fit.gamma_gamma, h.x, h.m)
    return Predictions(purchases, alive, value)


def fit_clv(session: Session, end: date, start: date | None, now: datetime) -> ClvModel:
    """Fit on the window [start, end], store the model and every member's predictions.

    Members with no purchase day in the window get no predictions (their old ones are
    cleared). Raises clv.NotEnoughHistory when no member has a repeat purchase day there.
    """
    h = histories(session, start, end)
    result = fit_histories(h, start, end)
    model = ClvModel(
        calibration_start=result.calibration_start,
        calibration_end=end,
        params={
            **{name: decimal_string(getattr(result, name)) for name in PARAMS},
            "converged": result.converged,
        },
        members=result.customers,
        repeat_buyers=result.repeat_customers,
        fit_seconds=Decimal(f"{result.fit_seconds:.3f}"),
        fitted_at=now,
    )
    session.add(model)
    _clear_outside(session, start, end)
    _write(session, h.member_ids, predict(result, h))
    session.flush()
    return model


def latest_model(session: Session) -> ClvModel | None:
    return session.scalar(select(ClvModel).order_by(ClvModel.id.desc()).limit(1))


def decimal_string(value: float) -> str:
    """A parameter as a plain decimal string with 10 significant digits."""
    return format(Decimal(f"{value:.10g}"), "f")


def _clear_outside(session: Session, start: date | None, end: date) -> None:
    d = MemberDay
    bought = exists().where(d.member_id == MemberMetrics.member_id, *_window(start, end))
    session.execute(
        update(MemberMetrics)
        .where(MemberMetrics.clv_p_alive.is_not(None), ~bought)
        .values(dict.fromkeys(PREDICTIONS))
        .execution_options(synchronize_session=False)
    )


def _write(session: Session, member_ids: NDArray[np.int64], p: Predictions) -> None:
    """Upsert the predictions, WRITE_BATCH members per statement (`loyalty.bulk`)."""
    columns = {
        "member_id": member_ids.tolist(),
        "clv_purchases_365": _rounded(p.purchases, 4, MOST_PURCHASES),
        "clv_p_alive": _rounded(p.p_alive, 6, 1.0 + 1e-9),
        "clv_value_365_minor": [
            None if v is None else int(v) for v in _rounded(p.value * 100, 0, MOST_MINOR)
        ],
    }
    names = list(columns)
    rows = [
        {**dict(zip(names, row, strict=True)), "spend_12m_minor": 0, "purchase_days": 0}
        for row in zip(*columns.values(), strict=True)
    ]
    for begin in range(0, len(rows), WRITE_BATCH):
        upsert_rows(
            session,
            MemberMetrics.__table__,
            ["member_id"],
            rows[begin : begin + WRITE_BATCH],
            lambda incoming: {name: incoming[name] for name in PREDICTIONS},
        )


def _rounded(values: Vector, places: int, largest: float) -> list[float | None]:
    """Rounded to the column's places; None where not finite or not below `largest`."""
    storable = np.isfinite(values) & (np.abs(values) < largest)
    rounded = np.round(np.where(storable, values, 0.0), places).tolist()
    return [v if ok else None for v, ok in zip(rounded, storable.tolist(), strict=True)]
