"""Lifetime value models: summaries in weeks, BG/NBD and Gamma-Gamma against published figures."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from members.metrics import clv
from tests.datasets import CDNOW_SAMPLE

CALIBRATION_END = date(1997, 9, 30)  # weeks 1-39 from 1997-01-01

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", and the lifetimes docs.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Fader & Hardie (2013), "The Gamma-Gamma model of monetary value"; lifetimes prints 15.45.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
# The parameters the lifetimes Quickstart prints with its example predictions.
LIFETIMES_BGNBD = clv.BgNbd(r=0.242593, alpha=4.413532, a=0.792886, b=2.425752)


def load_cdnow(path: Path) -> list[clv.Purchase]:
    """(sample id, day, dollar value) for each line: master id, sample id, YYYYMMDD, cds, value."""
    purchases = []
    for line in path.read_text().splitlines():
        _master, sample_id, day, _cds, value = line.split()
        when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
        purchases.append((int(sample_id), when, Decimal(value)))
    return purchases


@pytest.fixture(scope="module")
def cdnow() -> list[clv.CustomerSummary]:
    return clv.summarise(load_cdnow(CDNOW_SAMPLE), CALIBRATION_END)


@pytest.fixture(scope="module")
def fitted(cdnow) -> clv.FitResult:
    return clv.fit(cdnow, CALIBRATION_END)


def columns(summaries: list[clv.CustomerSummary]) -> tuple[np.ndarray, ...]:
    return tuple(
        np.array([getattr(s, f) for s in summaries], dtype=float)
        for f in ("frequency", "recency", "age", "mean_spend")
    )


def by_id(summaries: list[clv.CustomerSummary]) -> dict:
    return {s.customer_id: s for s in summaries}


# --- summaries -------------------------------------------------------------------------------


def test_frequency_counts_repeat_purchase_days_and_times_are_in_weeks():
    purchases = [
        ("c1", date(1997, 1, 1), 29.33),
        ("c1", date(1997, 1, 18), 29.73),
        ("c1", date(1997, 8, 2), 14.96),
    ]
    [summary] = clv.summarise(purchases, CALIBRATION_END)
    assert summary.frequency == 2
    assert summary.recency == pytest.approx(213 / 7)  # 30.43 weeks
    assert summary.age == pytest.approx(272 / 7)  # 38.86 weeks
    assert summary.mean_spend == pytest.approx((29.73 + 14.96) / 2)  # the first day left out


def test_several_purchases_on_one_day_are_one_transaction_with_their_amounts_summed():
    purchases = [
        ("c1", datetime(2024, 3, 1, 9, 0), Decimal("10.00")),
        ("c1", datetime(2024, 3, 8, 9, 0), Decimal("20.00")),
        ("c1", datetime(2024, 3, 8, 18, 30), Decimal("5.50")),
        ("c1", date(2024, 3, 8), Decimal("4.50")),
    ]
    [summary] = clv.summarise(purchases, date(2024, 3, 15))
    assert (summary.frequency, summary.recency, summary.age) == (1, 1.0, 2.0)
    assert summary.mean_spend == pytest.approx(30.0)


def test_purchases_after_the_calibration_end_are_left_out():
    purchases = [
        ("early", date(2024, 1, 1), 10),
        ("early", date(2024, 1, 15), 10),  # the last day of calibration counts
        ("early", date(2024, 1, 16), 99),
        ("late", date(2024, 2, 1), 10),
    ]
    summaries = clv.summarise(purchases, date(2024, 1, 15))
    assert [s.customer_id for s in summaries] == ["early"]
    assert (summaries[0].frequency, summaries[0].mean_spend) == (1, 10.0)


def test_a_customer_with_one_purchase_has_no_repeat_transaction_and_no_mean_spend():
    [summary] = clv.summarise([("c1", date(2024, 1, 1), 42)], date(2024, 1, 29))
    assert summary == clv.CustomerSummary("c1", 0, 0.0, 4.0, 0.0)


def test_an_empty_history_summarises_to_nothing_and_cannot_be_fitted():
    assert clv.summarise([], CALIBRATION_END) == []
    with pytest.raises(clv.NotEnoughHistory):
        clv.fit([], CALIBRATION_END)


def test_a_history_without_repeat_purchases_cannot_be_fitted():
    one_each = [(n, date(2024, 1, n), 10) for n in range(1, 20)]
    with pytest.raises(clv.NotEnoughHistory):
        clv.fit(clv.summarise(one_each, date(2024, 3, 1)), date(2024, 3, 1))


def test_the_cdnow_sample_has_the_published_cohort_in_weeks_1_to_39(cdnow):
    x, _, T, _ = columns(cdnow)
    assert len(cdnow) == 2357
    assert np.count_nonzero(x) == 946  # the customers lifetimes fits Gamma-Gamma on
    assert T.max() == pytest.approx(39 - 1 / 7)  # first buyers of 1997-01-01


# --- the CDNOW fit ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "published"), PUBLISHED_BGNBD.items())
def test_bgnbd_reproduces_the_published_cdnow_parameters_within_1_percent(fitted, name, published):
    assert getattr(fitted, name) == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize(("name", "published"), PUBLISHED_GAMMA_GAMMA.items())
def test_gamma_gamma_reproduces_the_published_cdnow_parameters_within_1_percent(
    fitted, name, published
):
    assert getattr(fitted, name) == pytest.approx(published, rel=0.01)


def test_the_cdnow_log_likelihoods_are_the_published_maxima(fitted):
    assert fitted.bgnbd_log_likelihood == pytest.approx(-9582.4, abs=0.05)  # the BG/NBD paper
    assert fitted.gamma_gamma_log_likelihood == pytest.approx(-4055.9177, abs=1e-3)


def test_the_cdnow_fit_converges_in_under_a_few_seconds(fitted):
    assert fitted.converged
    assert fitted.fit_seconds < 5
    assert (fitted.calibration_start, fitted.calibration_end) == (date(1997, 1, 1), CALIBRATION_END)
    assert (fitted.customers, fitted.repeat_customers) == (2357, 946)


def test_the_fit_does_not_depend_on_the_order_of_customers(cdnow, fitted):
    reordered = clv.fit(list(reversed(cdnow)), CALIBRATION_END)
    assert reordered.bgnbd == pytest.approx(fitted.bgnbd, rel=1e-6)
    assert reordered.gamma_gamma == pytest.approx(fitted.gamma_gamma, rel=1e-6)


# --- expectations against reference figures --------------------------------------------------


def test_conditional_expectation_matches_the_papers_worked_example(fitted):
    # Hardie's spreadsheet for the BG/NBD paper: x = 2, t_x = 30.43, T = 38.86, next 39 weeks.
    assert clv.expected_purchases(fitted.bgnbd, 39, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=1e-3
    )


@pytest.mark.parametrize(
    ("weeks", "expected"),
    [(0.1429, 0.0078), (1, 0.0532), (3, 0.1506), (31.8571, 1.0405), (32, 1.0437), (78, 1.8576)],
)
def test_a_new_customers_expected_purchases_follow_the_papers_cumulative_curve(
    fitted, weeks, expected
):
    # E[X(t)] of the paper (eq. 9) is eq. 10 for x = t_x = T = 0; figures from Hardie's sheet.
    assert clv.expected_purchases(fitted.bgnbd, weeks, 0, 0, 0) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    ("customer_id", "predicted"),
    [(509, 0.424877), (841, 0.474738), (1981, 0.486526), (157, 0.662396), (1516, 0.710623)],
)
def test_next_week_predictions_match_the_lifetimes_quickstart(cdnow, customer_id, predicted):
    s = by_id(cdnow)[customer_id]
    expected = clv.expected_purchases(LIFETIMES_BGNBD, 1, s.frequency, s.recency, s.age)
    assert expected == pytest.approx(predicted, rel=1e-3)


LIFETIMES_SPEND = [24.658619, 18.911489, 35.170981, 35.170981, 35.170981, 71.462843]


def first_six(summaries: list[clv.CustomerSummary]) -> list[clv.CustomerSummary]:
    customers = by_id(summaries)
    return [customers[n] for n in range(1, 7)]


def test_expected_spend_matches_the_lifetimes_quickstart(cdnow, fitted):
    x, _, _, m = columns(first_six(cdnow))
    spend = clv.expected_spend(fitted.gamma_gamma, x, m)
    assert spend == pytest.approx(LIFETIMES_SPEND, rel=1e-3)


# --- properties of the formulas --------------------------------------------------------------


@pytest.mark.parametrize("age", [0.0, 1.0, 38.86, 500.0])
def test_p_alive_is_one_for_a_customer_without_repeat_purchases(fitted, age):
    assert clv.p_alive(fitted.bgnbd, 0, 0, age) == 1.0


def test_p_alive_falls_as_the_silence_since_the_last_purchase_grows(fitted):
    ages = np.array([10.0, 20.0, 40.0, 80.0])
    alive = clv.p_alive(fitted.bgnbd, 3, 10.0, ages)
    assert np.all(np.diff(alive) < 0)
    assert alive[0] == pytest.approx(1 / (1 + fitted.a / (fitted.b + 2)))  # t_x == T


def test_p_alive_matches_the_closed_form():
    params = clv.BgNbd(0.243, 4.414, 0.793, 2.426)
    odds = (0.793 / (2.426 + 6 - 1)) * ((4.414 + 38.86) / (4.414 + 30.43)) ** (0.243 + 6)
    assert clv.p_alive(params, 6, 30.43, 38.86) == pytest.approx(1 / (1 + odds), rel=1e-12)


def test_results_do_not_depend_on_the_time_unit(fitted):
    # Measuring in days multiplies alpha and every time by 7 and changes no probability.
    days = fitted.bgnbd._replace(alpha=fitted.alpha * 7)
    x, t_x, T = np.array([0, 1, 5, 20]), np.array([0, 3, 20, 30]), np.array([10, 25, 30, 31])
    assert clv.p_alive(days, x, t_x * 7, T * 7) == pytest.approx(
        clv.p_alive(fitted.bgnbd, x, t_x, T)
    )
    assert clv.expected_purchases(days, 52 * 7, x, t_x * 7, T * 7) == pytest.approx(
        clv.expected_purchases(fitted.bgnbd, 52, x, t_x, T)
    )


def papers_eq_10(params: clv.BgNbd, t: float, x, t_x, T):
    """Eq. 10 written as printed in the paper."""
    r, alpha, a, b = params
    ratio = (alpha + T) / (alpha + T + t)
    tail = ratio ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    head = (a + b + x - 1) / (a - 1) * (1 - tail)
    return head / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


@pytest.mark.parametrize("weeks", [1, 13, 39, 52, 104])
def test_the_expectation_equals_the_papers_printed_formula(cdnow, fitted, weeks):
    x, t_x, T, _ = columns(cdnow)
    ours = clv.expected_purchases(fitted.bgnbd, weeks, x, t_x, T)
    assert ours == pytest.approx(papers_eq_10(fitted.bgnbd, weeks, x, t_x, T), rel=1e-9)


def test_the_expectation_stays_finite_for_a_customer_with_many_purchases(fitted):
    expected = clv.expected_purchases(fitted.bgnbd, 52, 2000, 520, 520.5)
    assert np.isfinite(expected)
    assert 150 < expected < 210  # nearly alive, about 3.8 purchase days a week for a year


def test_the_expectation_stays_finite_when_dropout_is_nearly_the_same_for_everyone():
    # a and b in the millions (fitted so on a program whose members all lapse alike): Euler's
    # form overflows there, the paper's printed one does not, and the two agree where both hold
    nearly_fixed = clv.BgNbd(r=0.71, alpha=1.65, a=1.2e6, b=3.06e7)
    x, t_x, T = np.array([0.0, 1, 4, 9, 30]), np.array([0.0, 1, 20, 18, 60]), np.full(5, 70.0)
    ours = clv.expected_purchases(nearly_fixed, 52, x, t_x, T)
    assert np.all(np.isfinite(ours))
    assert ours == pytest.approx(papers_eq_10(nearly_fixed, 52, x, t_x, T), rel=1e-9)
    a_thousandth = clv.BgNbd(r=0.71, alpha=1.65, a=1.2e3, b=3.06e4)  # the same p, less sure
    assert ours == pytest.approx(clv.expected_purchases(a_thousandth, 52, x, t_x, T), rel=0.02)


def test_a_one_purchase_customer_gets_the_population_spend_and_some_purchases(fitted):
    population_mean = fitted.p * fitted.gamma / (fitted.q - 1)
    assert clv.expected_spend(fitted.gamma_gamma, 0, 0.0) == pytest.approx(population_mean)
    assert clv.expected_purchases(fitted.bgnbd, 52, 0, 0, 10) > 0


def test_spend_shrinks_less_towards_the_population_the_more_purchases_are_seen(fitted):
    spend = clv.expected_spend(fitted.gamma_gamma, [1, 5, 50], [100.0, 100.0, 100.0])
    assert np.all(np.diff(spend) > 0)
    assert spend[-1] == pytest.approx(100.0, rel=0.02)


# --- the fit beyond CDNOW --------------------------------------------------------------------


def simulate_bgnbd(params: clv.BgNbd, customers: int, seed: int) -> tuple[np.ndarray, ...]:
    """(x, t_x, T) of customers drawn from the BG/NBD story, ages up to two years."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1 / params.alpha, customers)
    drop = rng.beta(params.a, params.b, customers)
    T = rng.integers(1, 105, customers).astype(float)
    x, t_x, now = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    active = np.ones(customers, dtype=bool)
    while active.any():
        now = now + rng.exponential(1 / rate)
        bought = active & (now <= T)
        x[bought] += 1
        t_x[bought] = now[bought]
        active = bought & (rng.random(customers) >= drop)
    return x, t_x, T


def test_the_fit_recovers_the_parameters_customers_were_drawn_from():
    truth = clv.BgNbd(r=0.5, alpha=6.0, a=0.7, b=3.0)
    estimate = clv.fit_bgnbd(*simulate_bgnbd(truth, 20_000, seed=7))
    assert estimate.converged
    assert estimate.params == pytest.approx(truth, rel=0.15)


def test_customers_with_a_zero_or_negative_mean_spend_are_left_out_of_the_spend_fit(cdnow):
    x, _, _, m = columns(cdnow)
    with_refunds = clv.fit_gamma_gamma(np.append(x, [2, 3]), np.append(m, [0.0, -5.0]))
    assert with_refunds == clv.fit_gamma_gamma(x, m)
    with pytest.raises(clv.NotEnoughHistory):
        clv.fit_gamma_gamma([2, 3], [0.0, -5.0])
