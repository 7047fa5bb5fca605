"""A hostile user agent costs bounded time: only its first MAX_UA_CLASSIFIED characters are read
by the UA libraries (whose regexes are super-linear), and the cache holds at most that much."""

from __future__ import annotations

import time

from qinglang.detect.useragent import MAX_UA_CLASSIFIED, classify, classify_many


def test_a_megabyte_user_agent_is_classified_at_once():
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1) " + "a" * 1_000_000
    started = time.process_time()
    info = classify(ua)
    # generous: one classification of MAX_UA_CLASSIFIED characters, not of a megabyte
    assert time.process_time() - started < 5
    assert info["kind"] == "crawler"
    assert info["user_agent"] == ua  # the row still joins on the whole value


def test_long_user_agents_keep_their_own_value_in_the_lookup_table():
    base = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + "b" * MAX_UA_CLASSIFIED
    uas = [base + "1", base + "2"]
    table = classify_many(uas)
    assert table.column("user_agent").to_pylist() == uas
    assert len(set(table.column("kind").to_pylist())) == 1  # same first 512 characters


def test_a_100_kb_hostile_user_agent_stays_bounded():
    # shapes that make backtracking regexes slow: long runs inside a comment, near-matches
    uas = [
        "Mozilla/5.0 (" + "compatible; " * 9000 + ")",
        "Mozilla/5.0 " + "bot" * 34_000,
        "a/" + "1." * 50_000,
        "(" * 100_000,
    ]
    for ua in uas:
        started = time.process_time()
        info = classify(ua)
        assert time.process_time() - started < 2, ua[:40]
        assert info["user_agent"] == ua
