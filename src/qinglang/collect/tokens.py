"""Per-pageview tokens: HMAC over (site, issue time, nonce, user-agent hash), key from the site secret.

The grammar, byte for byte (README, "Signed tokens"; front/src/tokens.rs implements the same):

    token  = iat "." nonce "." mac
    iat    = "0" / NZHEX *15HEX       issue time, Unix seconds, lower-case hex, no leading zero
    nonce  = 16B64                    12 random bytes, base64url without padding
    mac    = 22B64                    the first 16 bytes of the HMAC, base64url without padding
    HEX    = "0" / NZHEX              0-9 a-f (no upper case, no 0x, _, sign or space)
    NZHEX  = %x31-39 / %x61-66
    B64    = ALPHA / DIGIT / "-" / "_"

    key    = HMAC-SHA256(site secret, "qinglang-token-v1")
    mac    = b64url(HMAC-SHA256(key, site "|" decimal(iat) "|" nonce "|" ua_hash)[:16])
    ua_hash = lower-case hex of SHA-256(UTF-8(user agent)), its first 16 characters

The user agent is the header's bytes read as Latin-1 (one character per byte, as ASGI does), its
first 512 characters; an absent header is "". Anything off the grammar is `invalid`.

`/t.js` embeds a fresh token in every copy of the tracker it serves (no-store). The tracker echoes
it with a sequence number on every beacon of that page view. The collector's verdict:

    valid     the MAC checks, the token is younger than the TTL, and this (token, page, seq) is new
    missing   no token at all (a pixel without the tracker, a hand-made request)
    invalid   malformed, signed for another site or user agent, or a bad MAC
    replayed  the token was already used by another page view, or the same beacon (seq) came again
    expired   genuine but older than the TTL (a tab left open, or a token harvested for later use)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from collections import OrderedDict

from qinglang.collect.contract import CONTRACT

SPEC = CONTRACT["token"]
GRAMMAR = re.compile(SPEC["grammar"])  # the ABNF above as a regular expression (ASCII classes)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@functools.lru_cache(maxsize=1024)  # one derivation per site, not one per beacon
def _key(secret: bytes) -> bytes:
    return hmac.new(secret, SPEC["key_info"].encode(), hashlib.sha256).digest()


def ua_hash(user_agent: str) -> str:
    return hashlib.sha256(user_agent.encode("utf-8", "replace")).hexdigest()[
        : SPEC["ua_hash_hex_digits"]
    ]


def _mac(secret: bytes, site: str, iat: int, nonce: str, user_agent: str) -> str:
    msg = f"{site}|{iat}|{nonce}|{ua_hash(user_agent)}".encode()
    return _b64(hmac.new(_key(secret), msg, hashlib.sha256).digest()[: SPEC["mac_bytes"]])


def issue(secret: bytes, site: str, now_s: int, user_agent: str) -> str:
    nonce = _b64(os.urandom(12))
    return f"{now_s:x}.{nonce}.{_mac(secret, site, now_s, nonce, user_agent)}"


def check(
    secret: bytes, site: str, token: str | None, now_s: int, ttl_s: int, user_agent: str
) -> tuple[str, str | None]:
    """(verdict before the replay check, nonce or None)."""
    if not token:
        return "missing", None
    parts = GRAMMAR.fullmatch(token)
    if parts is None:  # int(x, 16) would also take "0x1f", "1_f", " 1f", "+1f" and "1F"
        return "invalid", None
    iat_hex, nonce, mac = parts.groups()
    iat = int(iat_hex, 16)
    expected = _mac(secret, site, iat, nonce, user_agent)
    if not hmac.compare_digest(mac, expected):  # both ASCII: the grammar saw to it
        return "invalid", None
    if iat > now_s + SPEC["future_s"]:
        return "invalid", None  # issued in the future: not by this collector's clock
    return ("expired" if now_s - iat > ttl_s else "valid"), nonce


class ReplayGuard:
    """Remembers which page view holds each nonce and which beacon numbers it has sent.

    Bounded: nonces older than the TTL can only be `expired` anyway and are forgotten first;
    past `max_nonces` the oldest go. Kept in memory (lost on restart; see the README).
    """

    def __init__(self, ttl_s: int, max_nonces: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_nonces = max_nonces
        # nonce -> [first seen (s), page view id, beacon numbers seen: a bit mask, or a set past 61]
        self._seen: OrderedDict[str, list] = OrderedDict()

    def verdict(self, nonce: str, pv_id: str | None, seq: int | None, now_s: int) -> str | None:
        """'replayed' if this beacon was seen already or the token belongs to another page view."""
        self._prune(now_s)
        key = seq if seq is not None else -1
        entry = self._seen.get(nonce)
        if entry is None:
            self._seen[nonce] = [now_s, pv_id or "", _add(0, key)]
            return None
        if entry[1] != (pv_id or "") or _has(entry[2], key):
            return "replayed"
        entry[2] = _add(entry[2], key)
        return None

    def remember(self, seen: list, ts_s: int) -> None:
        """Replay a stored (nonce, pv_id, seq) into the guard, as at start-up."""
        nonce, pv_id, seq = seen
        self.verdict(nonce, pv_id, seq, ts_s)

    def _prune(self, now_s: int) -> None:
        seen = self._seen
        while seen:
            first = next(iter(seen.values()))[0]
            if now_s - first <= 2 * self.ttl_s and len(seen) < self.max_nonces:
                break
            seen.popitem(last=False)


def _add(seqs: int | set, seq: int) -> int | set:
    if isinstance(seqs, int) and 0 <= seq + 1 < 62:
        return seqs | (1 << (seq + 1))
    out = seqs if isinstance(seqs, set) else {i - 1 for i in range(62) if seqs >> i & 1}
    out.add(seq)
    return out


def _has(seqs: int | set, seq: int) -> bool:
    if isinstance(seqs, set):
        return seq in seqs
    return 0 <= seq + 1 < 62 and bool(seqs >> (seq + 1) & 1)
