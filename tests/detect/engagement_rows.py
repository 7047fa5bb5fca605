"""Hand-made engagement logs for detector tests: people, a lockstep group, a farm, a bulk app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import IPHONE, T0

PLATFORM = "social.example"
ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 MicroMessenger/8.0.42"
)


def action(eid: str, account: str, target: str, minutes: float, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": eid,
        "ts": T0 + dt.timedelta(minutes=minutes),
        "site": PLATFORM,
        "event": "action",
        "account_id": account,
        "device_id": "d-" + account,
        "target": target,
        "action": "like",
        "ip": f"117.136.{hash_ip(account)}.{hash_ip(account + 'x') + 1}",
        "user_agent": IPHONE,
        "signature_ok": True,
    }
    row.update(over)
    return row


def hash_ip(s: str) -> int:
    return sum(ord(c) * (i + 7) for i, c in enumerate(s)) % 200


def people(n: int = 400, start: int = 0) -> list[dict]:
    """Ordinary accounts: a few actions each on popular posts, spread over two days."""
    rows = []
    for i in range(start, start + n):
        for j in range(3):
            rows.append(
                action(f"p{i:03d}-{j}", f"u{i}", f"post{(i * 7 + j * 3) % 9}", 37 * i + 613 * j)
            )
    return rows


def viral(n: int = 80) -> list[dict]:
    """A real viral post: many people, one post, arriving over hours from their own lines."""
    return [
        action(f"v{i:03d}", f"u{i}", "viral-post", 90 + (i * i * 7) % 400, action="repost")
        for i in range(n)
    ]


def lockstep_group(
    members: int = 24, targets: int = 10, prefix: str = "g", start: float = 2000
) -> list[dict]:
    """Rented accounts: every member acts on every bought post within the same hour."""
    rows = []
    for t in range(targets):
        for m in range(members):
            rows.append(
                action(
                    f"{prefix}{t}-{m:02d}",
                    f"{prefix}acct{m}",
                    f"{prefix}bought{t}",
                    start + 180 * t + (m * 3) % 40,
                    action="vote",
                )
            )
    return rows


def device_farm(phones: int = 16, steps: int = 8) -> list[dict]:
    """One controller walks its phones through the same script, seconds apart, on one line."""
    rows = []
    for s in range(steps):
        for p in range(phones):
            rows.append(
                action(
                    f"f{s}-{p:02d}",
                    f"farm{p}",
                    f"farmtarget{s}",
                    4000 + 90 * s + p * 0.05,
                    ip="183.192.7.7",
                    user_agent=ANDROID,
                    action="follow",
                )
            )
    return rows


def bulk_controller(accounts: int = 12, posts: int = 3) -> list[dict]:
    """A bulk app: small accounts repost each post within a second, new device every time,
    most signatures forged."""
    rows = []
    for p in range(posts):
        for a in range(accounts):
            rows.append(
                action(
                    f"b{p}-{a:02d}",
                    f"small{a}",
                    f"market{p}",
                    6000 + 300 * p + a * 0.001,
                    ip="39.144.9.9",
                    device_id=f"rnd{p}-{a}",
                    action="repost",
                    signature_ok=(a + p) % 4 == 0,
                )
            )
    return rows


def engagement_rows() -> list[dict]:
    return people() + viral() + lockstep_group() + device_farm() + bulk_controller()
