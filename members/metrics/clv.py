"""Customer lifetime value: BG/NBD purchase counts and P(alive), Gamma-Gamma spend, in weeks."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

Purchase = tuple[Hashable, date, Decimal | float | int]
Vector = NDArray[np.float64]


class NotEnoughHistory(ValueError):
    """The history holds too little to fit a model (no customers, or no repeat purchases)."""


class BgNbd(NamedTuple):
    """BG/NBD: purchase rate ~ Gamma(r, alpha); drop-out chance after a purchase ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


class GammaGamma(NamedTuple):
    """Gamma-Gamma: a purchase's value ~ Gamma(p, nu); nu ~ Gamma(q, gamma) across customers."""

    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class CustomerSummary:
    """A customer's calibration history; times in weeks from their first purchase day."""

    customer_id: Hashable
    frequency: int  # x: purchase days after the first one
    recency: float  # t_x: first to last purchase day
    age: float  # T: first purchase day to the end of calibration
    mean_spend: float  # mean value of the repeat purchase days; 0.0 when frequency is 0


@dataclass(frozen=True)
class FitResult:
    """Both models fitted on one calibration window."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float
    calibration_start: date
    calibration_end: date
    customers: int
    repeat_customers: int
    bgnbd_log_likelihood: float
    gamma_gamma_log_likelihood: float
    converged: bool
    fit_seconds: float

    @property
    def bgnbd(self) -> BgNbd:
        return BgNbd(self.r, self.alpha, self.a, self.b)

    @property
    def gamma_gamma(self) -> GammaGamma:
        return GammaGamma(self.p, self.q, self.gamma)


@dataclass(frozen=True)
class Estimate:
    """One model's maximum-likelihood parameters."""

    params: tuple[float, ...]
    log_likelihood: float
    converged: bool


# --- summaries -------------------------------------------------------------------------------


def summarise(purchases: Iterable[Purchase], end: date) -> list[CustomerSummary]:
    """Per-customer (x, t_x, T, mean spend) from purchases up to and including `end`.

    Purchases by one customer on one day are one transaction whose value is their sum.
    Customers appear in the order of their first purchase line.
    """
    by_customer: dict[Hashable, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for customer_id, when, amount in purchases:
        day = when.date() if isinstance(when, datetime) else when
        if day <= end:
            by_customer[customer_id][day] += float(amount)
    return [_summary(cid, days, end) for cid, days in by_customer.items()]


def _summary(customer_id: Hashable, spend_by_day: dict[date, float], end: date) -> CustomerSummary:
    days = sorted(spend_by_day)
    repeat = [spend_by_day[day] for day in days[1:]]
    mean_spend = sum(repeat) / len(repeat) if repeat else 0.0
    return CustomerSummary(
        customer_id, len(repeat), _weeks(days[0], days[-1]), _weeks(days[0], end), mean_spend
    )


def _weeks(start: date, end: date) -> float:
    return (end - start).days / 7


# --- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") ---------------


def bgnbd_log_likelihood(params: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Vector:
    """Each customer's log-likelihood (the paper's eq. 6), its two terms added in log space."""
    r, alpha, a, b = params
    x, t_x, T = _floats(x, t_x, T)
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    alive = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    # np.maximum keeps betaln's arguments valid where x == 0, whose term is not used.
    dropped = special.betaln(a + 1, b + np.maximum(x, 1) - 1) - beta_ab
    dropped = dropped - (r + x) * np.log(alpha + t_x)
    return head + np.where(x > 0, np.logaddexp(alive, dropped), alive)


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Estimate:
    """Maximum-likelihood r, alpha, a, b; raises NotEnoughHistory without repeat purchases."""
    x, t_x, T = _floats(x, t_x, T)
    if not np.any(x > 0):
        raise NotEnoughHistory("BG/NBD needs at least one customer with a repeat purchase")
    (x, t_x, T), weight = _distinct(x, t_x, T)
    # With r = 1 the Gamma's mean rate r / alpha matches the observed repeat rate.
    start = (1.0, float(np.sum(weight * T) / np.sum(weight * x)), 1.0, 1.0)

    def value_and_gradient(params: Sequence[float]) -> tuple[float, Vector]:
        model = BgNbd(*params)
        value = bgnbd_log_likelihood(model, x, t_x, T)
        return float(weight @ value), _bgnbd_gradient(model, x, t_x, T) @ weight

    return _maximise(value_and_gradient, start, weight.sum())


def _bgnbd_gradient(params: BgNbd, x: Vector, t_x: Vector, T: Vector) -> NDArray[np.float64]:
    """d log-likelihood / d (r, alpha, a, b), one column per customer."""
    r, alpha, a, b = params
    psi = special.digamma
    beta_ab = special.betaln(a, b)
    x1 = np.maximum(x, 1)
    alive = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    dropped = special.betaln(a + 1, b + x1 - 1) - beta_ab - (r + x) * np.log(alpha + t_x)
    # Share of the likelihood from "still alive at T" (1 without repeat purchases).
    w = np.where(x > 0, special.expit(alive - dropped), 1.0)
    d_r = psi(r + x) - psi(r) + np.log(alpha)
    d_r -= w * np.log(alpha + T) + (1 - w) * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w / (alpha + T) + (1 - w) / (alpha + t_x))
    d_ab = psi(a + b) - psi(a + b + x)
    d_a = d_ab + (1 - w) / a
    d_b = d_ab + psi(b + x) - psi(b) - (1 - w) / (b + x1 - 1)
    return np.vstack([d_r, d_alpha, d_a, d_b])


def p_alive(params: BgNbd, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Vector:
    """P(still active at T | x, t_x); exactly 1 for a customer with no repeat purchase."""
    r, alpha, a, b = params
    x, t_x, T = _floats(x, t_x, T)
    log_odds_dead = (
        np.log(a)
        - np.log(b + np.maximum(x, 1) - 1)
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(x > 0, special.expit(-log_odds_dead), 1.0)


def expected_purchases(
    params: BgNbd, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Vector:
    """Expected transactions in the next `t` weeks given (x, t_x, T): the paper's eq. 10.

    The paper's term ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) is evaluated
    through Euler's transformation as ((alpha+T)/(alpha+T+t))^(a-1) * 2F1(a+b-1-r, a-1;
    a+b+x-1; z), which stays finite for customers with many purchases; where that is not
    finite (a and b in the millions: dropout nearly the same for everyone), in the paper's own
    form, which then is. Needs a != 1.
    """
    r, alpha, a, b = params
    x, t_x, T = _floats(x, t_x, T)
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        euler = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(
            a + b - 1 - r, a - 1, a + b + x - 1, z
        )
        paper = np.exp((r + x) * np.log1p(-z)) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    kept = np.where(np.isfinite(euler), euler, paper)
    return p_alive(params, x, t_x, T) * (a + b + x - 1) / (a - 1) * (1 - kept)


# --- Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves") -----------


def gamma_gamma_log_likelihood(params: GammaGamma, x: ArrayLike, m: ArrayLike) -> Vector:
    """Each customer's log density of the mean spend `m` over `x` transactions (x > 0, m > 0)."""
    p, q, gamma = params
    x, m = _floats(x, m)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * m)
    )


def fit_gamma_gamma(x: ArrayLike, m: ArrayLike) -> Estimate:
    """Maximum-likelihood p, q, gamma on the customers with x > 0 and a positive mean spend."""
    x, m = _floats(x, m)
    used = (x > 0) & (m > 0)
    if not np.any(used):
        raise NotEnoughHistory("Gamma-Gamma needs at least one customer with a repeat purchase")
    (x, m), weight = _distinct(x[used], m[used])
    # Starting where the population mean spend p * gamma / (q - 1) equals the observed mean.
    start = (1.0, 2.0, float(weight @ m / weight.sum()))

    def value_and_gradient(params: Sequence[float]) -> tuple[float, Vector]:
        model = GammaGamma(*params)
        value = gamma_gamma_log_likelihood(model, x, m)
        return float(weight @ value), _gamma_gamma_gradient(model, x, m) @ weight

    return _maximise(value_and_gradient, start, weight.sum())


def _gamma_gamma_gradient(params: GammaGamma, x: Vector, m: Vector) -> NDArray[np.float64]:
    """d log-likelihood / d (p, q, gamma), one column per customer."""
    p, q, gamma = params
    psi = special.digamma
    px, log_total = p * x, np.log(gamma + x * m)
    d_p = x * (psi(px + q) - psi(px) + np.log(m) + np.log(x) - log_total)
    d_q = psi(px + q) - psi(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    return np.vstack([d_p, d_q, d_gamma])


def expected_spend(params: GammaGamma, x: ArrayLike, m: ArrayLike) -> Vector:
    """E(value of a purchase | x, m): the customer's mean shrunk towards the population's.

    A customer with x == 0 gets the population mean p * gamma / (q - 1), finite when q > 1.
    """
    p, q, gamma = params
    x, m = _floats(x, m)
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * (p * gamma / (q - 1)) + weight * m


# --- value over a horizon --------------------------------------------------------------------


# --- both models at once ---------------------------------------------------------------------


def fit(summaries: Sequence[CustomerSummary], calibration_end: date) -> FitResult:
    """Fit BG/NBD and Gamma-Gamma on one calibration window ending on `calibration_end`.

    Raises NotEnoughHistory for an empty history or one without any repeat purchase.
    """
    if not summaries:
        raise NotEnoughHistory("no customers in the calibration window")
    started = time.perf_counter()
    x, t_x, T, m = (
        np.array([getattr(s, f) for s in summaries], dtype=float)
        for f in ("frequency", "recency", "age", "mean_spend")
    )
    bgnbd, spend = fit_bgnbd(x, t_x, T), fit_gamma_gamma(x, m)
    return FitResult(
        *bgnbd.params,
        *spend.params,
        calibration_start=calibration_end - timedelta(days=round(float(T.max()) * 7)),
        calibration_end=calibration_end,
        customers=len(summaries),
        repeat_customers=int(np.count_nonzero(x)),
        bgnbd_log_likelihood=bgnbd.log_likelihood,
        gamma_gamma_log_likelihood=spend.log_likelihood,
        converged=bgnbd.converged and spend.converged,
        fit_seconds=time.perf_counter() - started,
    )


# --- numerics --------------------------------------------------------------------------------


def _floats(*columns: ArrayLike) -> tuple[Vector, ...]:
    return tuple(np.asarray(c, dtype=float) for c in columns)


def _distinct(*columns: Vector) -> tuple[tuple[Vector, ...], Vector]:
    """Identical rows collapsed into one row with a weight: the likelihood is evaluated once."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return tuple(rows.T), counts.astype(float)


def _maximise(
    value_and_gradient: Callable[[Sequence[float]], tuple[float, Vector]],
    start: Sequence[float],
    n: float,
) -> Estimate:
    """Maximise over the logs of the parameters, which keeps them positive."""

    def objective(log_params: Vector) -> tuple[float, Vector]:
        params = np.exp(log_params)
        value, gradient = value_and_gradient(params)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_params)
        return -value / n, -gradient * params / n

    result = optimize.minimize(objective, np.log(start), jac=True, method="L-BFGS-B", options=_OPT)
    params = tuple(float(v) for v in np.exp(result.x))
    return Estimate(params, value_and_gradient(params)[0], bool(result.success))


_OPT = {"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-9}
