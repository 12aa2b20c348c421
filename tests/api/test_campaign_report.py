"""The campaign report's lift with its 95 % interval, its cost in money and its incremental
return, on a program built through the API with known sales."""

from __future__ import annotations

import csv
import io
import statistics
from decimal import ROUND_HALF_UP, Decimal

from scipy import stats

from rewards.campaigns.planning import in_holdout
from tests.api.test_campaign_rules import award, earn, get, launch
from tests.factories import enrol

MEMBERS = 100


def _share(value: float | Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.0001'), ROUND_HALF_UP)}"


def test_the_report_gives_the_lifts_interval_the_cost_and_the_return(client, program):
    admin, marketer = program.headers("admin"), program.headers("marketer")
    settings = get(client, admin, "/api/v1/program/settings")
    assert settings["margin"] == "0.30"
    changed = client.put(
        "/api/v1/program/settings", json={**settings, "margin": "0.40"}, headers=admin
    )
    assert changed.status_code == 200, changed.get_json()
    campaign = launch(client, marketer, holdout_percent=50, effects=award(10))
    spends: dict[str, list[int]] = {"treated": [], "holdout": []}
    for n in range(MEMBERS):
        member = enrol(client, program)
        held_out = in_holdout(campaign["id"], member["id"], 50)
        total = 100_00 + (n % 7) * 10_00 + (0 if held_out else 60_00)  # the treated spend more
        earn(client, program, member, f"{total / 100:.2f}")
        spends["holdout" if held_out else "treated"].append(total)
    treated, holdout = spends["treated"], spends["holdout"]
    assert min(len(treated), len(holdout)) >= 30

    report = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}/report")

    base = statistics.fmean(holdout)
    interval = stats.ttest_ind(treated, holdout, equal_var=False).confidence_interval(0.95)
    assert report["lift_method"] == "welch"
    assert report["lift"] == _share(Decimal(sum(treated)) / len(treated) / Decimal(base) - 1)
    assert report["lift_ci95"] == {
        "low": _share(interval.low / base),
        "high": _share(interval.high / base),
    }
    assert Decimal(report["lift_ci95"]["low"]) > 0  # the campaign's groups really differ
    incremental = round((statistics.fmean(treated) - base) * len(treated))
    assert report["incremental_spend"] == f"{Decimal(incremental) / 100:.2f}"
    cost = 10 * len(treated) * 25  # 10 points each at 0.25 THB, in satang
    assert report["cost"] == {
        "points": 10 * len(treated),
        "points_value": f"{Decimal(cost) / 100:.2f}",
        "rewards": 0,
        "rewards_value": "0.00",
        "total": f"{Decimal(cost) / 100:.2f}",
    }
    roi = (Decimal(incremental) * Decimal("0.40") - cost) / cost
    assert report["incremental_roi"] == _share(roi)


def test_small_groups_say_not_enough_data(client, program):
    marketer = program.headers("marketer")
    campaign = launch(client, marketer, holdout_percent=50, effects=award(10))
    for n in range(8):
        earn(client, program, enrol(client, program), f"{100 + 10 * n}.00")
    report = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}/report")
    assert report["treated"]["members"] + report["holdout"]["members"] == 8
    for figure in ("lift_ci95", "incremental_spend", "incremental_roi"):
        assert report[figure] == "not enough data"
    assert report["cost"]["points"] == 10 * report["treated"]["members"]


def test_the_margin_must_be_a_share(client, program):
    admin = program.headers("admin")
    settings = get(client, admin, "/api/v1/program/settings")
    for bad in ("1.50", "-0.10", 0.3, "thirty"):
        refused = client.put(
            "/api/v1/program/settings", json={**settings, "margin": bad}, headers=admin
        )
        assert refused.status_code == 422, (bad, refused.get_json())
    assert get(client, admin, "/api/v1/program/settings")["margin"] == "0.30"


def test_the_report_as_csv_for_finance(client, program):
    marketer = program.headers("marketer")
    campaign = launch(client, marketer, name="=HYPERLINK(1)", effects=award(10))
    for n in range(3):
        earn(client, program, enrol(client, program), f"{100 + 10 * n}.00")
    report = get(client, marketer, f"/api/v1/campaigns/{campaign['id']}/report")
    got = client.get(f"/api/v1/campaigns/{campaign['id']}/report.csv", headers=marketer)
    assert got.status_code == 200
    assert got.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(got.get_data(as_text=True))))
    assert rows[0] == ["section", "figure", "value"]
    figures = {(section, name): value for section, name, value in rows[1:]}
    assert figures[("campaign", "name")] == "'=HYPERLINK(1)"  # never run as a formula
    assert figures[("campaign", "points_issued")] == "30"
    assert figures[("cost", "total")] == report["cost"]["total"] == "7.50"
    assert figures[("treated", "spend")] == report["treated"]["spend"]
    assert figures[("campaign", "incremental_roi")] == "not enough data"
