"""Money is exact decimal arithmetic and audit.json is strict JSON (issue 12, item 4)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from qinglang.audit.facts import amounts
from qinglang.audit.i18n import fmt_money
from qinglang.audit.run import AuditOptions, run_audit
from qinglang.errors import ConfigError


def no_constants(name: str) -> None:
    raise AssertionError(f"audit.json holds {name}, which is not JSON")


def strict_load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)


def test_amounts_are_exact_decimals_that_add_up():
    # 0.1 + 0.2 in floats is 0.30000000000000004; 1.1 per 1000 UV of 28,000,000 in floats gives
    # 30800.000000000004: decimal text from the price as written has neither problem
    got = amounts(
        {"unit_price": 1.1, "per": 1000, "currency": "CNY"}, 28_000_000, 16_800_000, [0.39, 0.41]
    )
    assert got["claimed"] == "30800.00" and got["payable"] == "18480.00"
    assert Decimal(got["payable"]) + Decimal(got["withheld"]) == Decimal(got["claimed"])
    assert got["payable_ci"] == ["18172.00", "18788.00"]
    odd = amounts({"unit_price": 0.9, "per": 1000, "currency": "CNY"}, 5, 3, [0.0, 1.0])
    assert (odd["claimed"], odd["payable"], odd["withheld"]) == ("0.00", "0.00", "0.00")
    half = amounts({"unit_price": 1, "per": 200, "currency": "CNY"}, 1, 1, [0.0, 0.0])
    assert half["claimed"] == "0.01"  # 0.005 rounds half up, once


def test_the_currency_decides_the_minor_unit():
    assert (
        amounts({"unit_price": 1.1, "per": 1000, "currency": "JPY"}, 28_000_000, 1, [0, 0])[
            "claimed"
        ]
        == "30800"
    )
    assert (
        amounts({"unit_price": 1.1, "per": 1000, "currency": "KWD"}, 1_234, 1, [0, 0])["claimed"]
        == "1.357"
    )
    assert fmt_money("30800", "JPY") == "30,800 JPY"
    assert fmt_money("18480.00", "CNY") == "18,480.00 CNY"
    assert fmt_money("123456789012345678.91", "CNY") == "123,456,789,012,345,678.91 CNY"


@pytest.mark.parametrize(
    ("price", "per"),
    [(float("nan"), 1000), (float("inf"), 1000), (-1.0, 1000), (1.0, 0), (1e308, 1)],
)
def test_money_that_cannot_be_paid_is_refused_before_any_work(price, per):
    with pytest.raises(ConfigError):
        AuditOptions(unit_price=price, per=per)


CSV = (
    "event_id,ts,ip,user_agent,url\n"
    "a,2024-01-01T00:00:00Z,1.2.3.4,Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36,http://a.test/\n"
    "b,2024-01-01T00:00:01Z,1.2.3.5,curl/8.0,http://a.test/\n"
)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"period_from": "2030-01-01"},  # nothing in the period: zero UV, still no NaN
        {"unit_price": 0.0},
        {"unit_price": 1e6, "per": 1, "currency": "JPY"},
    ],
)
def test_every_audit_json_is_strict_json(tmp_path, extra):
    src = tmp_path / "in.csv"
    src.write_text(CSV, encoding="utf-8")
    facts = run_audit([src], tmp_path / "out", AuditOptions(tz="Asia/Shanghai", **extra))
    loaded = strict_load(tmp_path / "out" / "audit.json")
    assert loaded["amount"] == facts["amount"]
    money = ("claimed", "payable", "withheld", "payable_estimate", "payable_ci", "minor_unit")
    for value in (loaded["amount"][k] for k in money):
        for text in value if isinstance(value, list) else [value] if value is not None else []:
            Decimal(text)  # every amount is decimal text
    # two events on one day from one source: one bootstrap unit, so no interval is estimable
    # (it used to print 0%-100%, from resamples with no UV counted as all invalid)
    assert loaded["amount"]["payable_ci"] is None
    assert loaded["totals"]["invalid_uv_share_ci"] is None
    assert loaded["totals"]["interval"]["units"] <= 1
