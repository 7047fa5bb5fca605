"""UI strings and number formatting used by all renderers."""

from __future__ import annotations

import pytest

from qinglang.audit.i18n import STRINGS, clean, fmt_int, fmt_money, fmt_pct, fmt_range, fmt_ts, t


def test_both_languages_have_the_same_keys() -> None:
    assert set(STRINGS["en"]) == set(STRINGS["zh"])


def test_lookup() -> None:
    assert t("payable", "zh") == "应付金额"
    assert t("payable", "en") == "Amount payable"
    with pytest.raises(KeyError):
        t("no.such.key", "en")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (999, "999"), (1234567, "1,234,567"), (12.6, "13"), (None, "—")],
)
def test_fmt_int(value, expected) -> None:
    assert fmt_int(value) == expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.4, 1, "40.0%"),
        (0.12345, 1, "12.3%"),
        (1.0, 1, "100.0%"),
        (0.0, 1, "0.0%"),
        (0.0004, 1, "<0.1%"),
        (0.0000075, 2, "<0.01%"),
        (None, 1, "—"),
    ],
)
def test_fmt_pct(value, digits, expected) -> None:
    assert fmt_pct(value, digits) == expected


def test_fmt_money_and_ranges() -> None:
    assert fmt_money(18480) == "18,480.00"
    assert fmt_money(1234567.891, "CNY") == "1,234,567.89 CNY"
    assert fmt_range([0.39, 0.41]) == "39.0%–41.0%"
    assert fmt_range([18100, 18800], fmt_money) == "18,100.00–18,800.00"
    assert fmt_range(None) == "—" and fmt_range([0.1, None]) == "—"


def test_clean_and_ts() -> None:
    assert clean("a\x1b[31mb\u202ec\td") == "a\ufffd[31mb\ufffdc\td"
    assert clean(None) == ""
    assert clean("abcdef", limit=4) == "abc…"
    assert fmt_ts("2017-09-01T08:15:02Z") == "2017-09-01 08:15:02Z"
    assert fmt_ts("not a time T") == "not a time T"
