"""The shared vectors (tests/collect/vectors/): the same cases that `cargo test` runs against the
Rust front's own functions, run here against the Python collector."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from qinglang.collect import tokens

VECTORS = Path(__file__).with_name("vectors")
TOKENS = json.loads((VECTORS / "tokens.json").read_text(encoding="utf-8"))


def test_the_token_key_and_ua_hash_are_as_specified():
    secret = bytes.fromhex(TOKENS["secret_hex"])
    assert tokens._key(secret).hex() == TOKENS["key_hex"]
    for v in TOKENS["ua_hashes"]:
        assert hashlib.sha256(v["user_agent"].encode()).hexdigest() == v["sha256_utf8_hex"]
        assert tokens.ua_hash(v["user_agent"]) == v["ua_hash"] == v["sha256_utf8_hex"][:16]
    for v in TOKENS["macs"]:
        assert (
            v["message"] == f"{v['site']}|{v['iat']}|{v['nonce']}|{tokens.ua_hash(v['user_agent'])}"
        )
        assert tokens._mac(secret, v["site"], v["iat"], v["nonce"], v["user_agent"]) == v["mac"]


@pytest.mark.parametrize("case", TOKENS["cases"], ids=lambda c: c["name"])
def test_token_vectors(case):
    got = tokens.check(
        bytes.fromhex(TOKENS["secret_hex"]),
        TOKENS["site"],
        case["token"],
        TOKENS["now_s"],
        TOKENS["ttl_s"],
        TOKENS["user_agent"],
    )
    assert got == (case["verdict"], case["nonce"])
