from qinglang.collect import tokens

SECRET = b"s" * 32
UA = "Mozilla/5.0 test"


def test_a_fresh_token_is_valid_and_echoes_its_nonce():
    tok = tokens.issue(SECRET, "shop", 1_000, UA)
    verdict, nonce = tokens.check(SECRET, "shop", tok, 1_010, 1800, UA)
    assert verdict == "valid" and nonce == tok.split(".")[1]


def test_verdicts_missing_invalid_expired():
    tok = tokens.issue(SECRET, "shop", 1_000, UA)
    assert tokens.check(SECRET, "shop", None, 1_000, 1800, UA) == ("missing", None)
    assert tokens.check(SECRET, "shop", "garbage", 1_000, 1800, UA)[0] == "invalid"
    assert tokens.check(SECRET, "other", tok, 1_000, 1800, UA)[0] == "invalid"  # another site
    assert tokens.check(b"x" * 32, "shop", tok, 1_000, 1800, UA)[0] == "invalid"  # another key
    assert tokens.check(SECRET, "shop", tok, 1_000, 1800, "curl/8")[0] == "invalid"  # another UA
    assert tokens.check(SECRET, "shop", tok, 900, 1800, UA)[0] == "invalid"  # from the future
    assert tokens.check(SECRET, "shop", tok, 1_000 + 1801, 1800, UA)[0] == "expired"
    forged = tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")
    assert tokens.check(SECRET, "shop", forged, 1_000, 1800, UA)[0] == "invalid"


def test_replay_guard_allows_one_page_view_its_own_beacons_once():
    g = tokens.ReplayGuard(ttl_s=1800)
    assert g.verdict("n1", "pv1", 0, 10) is None
    assert g.verdict("n1", "pv1", 1, 11) is None  # the same page's next beacon
    assert g.verdict("n1", "pv1", 1, 12) == "replayed"  # the same beacon again
    assert g.verdict("n1", "pv2", 2, 12) == "replayed"  # the token under another page view


def test_replay_guard_forgets_old_nonces_and_stays_bounded():
    g = tokens.ReplayGuard(ttl_s=10, max_nonces=3)
    for i in range(5):
        g.verdict(f"n{i}", "p", 0, 100)
    assert len(g._seen) == 3
    g.verdict("late", "p", 0, 1000)
    assert list(g._seen) == ["late"]


def test_replay_guard_counts_beacon_numbers_past_its_bit_mask():
    g = tokens.ReplayGuard(ttl_s=1800)
    for seq in (None, 0, 60, 61, 62, 500):
        assert g.verdict("n", "pv", seq, 1) is None, seq
    for seq in (None, 0, 60, 61, 62, 500):
        assert g.verdict("n", "pv", seq, 2) == "replayed", seq
    assert g.verdict("n", "pv", 7, 3) is None


def test_a_mac_with_non_ascii_text_is_invalid_not_an_error():
    secret, ua = b"s" * 32, "UA"
    good = tokens.issue(secret, "shop", 1000, ua)
    iat, nonce, _ = good.split(".")
    for mac in ("é", "\udcff", "中文"):
        assert tokens.check(secret, "shop", f"{iat}.{nonce}.{mac}", 1000, 1800, ua) == (
            "invalid",
            None,
        )
