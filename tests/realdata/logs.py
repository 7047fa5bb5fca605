"""Real logs for the behaviour tests: real people (`../shared/data/webbot-humans`) and real
Chromium bots (`tests/fixtures/realbots`), merged into one site's access log.

The bots browsed a small site on localhost; the people, the dataset's lab site. To audit them as
one site's traffic, each bot line is rewritten into the people's log format (its proxy address as
the client address), its site's origin in referrers becomes the lab site's, and each bot session
is moved, whole, to start when one of the people's sessions started (keeping every pause within
it), so that neither the date nor the hour of day tells them apart.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUMANS = ROOT.parent / "shared" / "data" / "webbot-humans"
BOTS = ROOT / "tests" / "fixtures" / "realbots"
LOG_FORMAT = (
    '$remote_addr $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" $cookie_vid "$http_user_agent"'
)
_BOT_LINE = re.compile(r"^(\S+) - (\S+) \[([^\]]+)\] (.*)$")
_COOKIE = re.compile(r'\[([^\]]+)\] ".*?" \d+ \S+ ".*?" (\S+) "')
_TIME = "%d/%b/%Y:%H:%M:%S %z"


@dataclass
class MergedLog:
    path: Path
    human_sessions: set[str]  # the annotated people's session cookies
    bot_kit: dict[str, str]  # bot proxy address -> kit
    bot_lines: dict[int, str] = field(default_factory=dict)  # line number -> proxy address


def human_session_ids() -> set[str]:
    ann = HUMANS / "annotations" / "humans_and_advanced_bots.txt"
    out = set()
    for line in ann.read_text().splitlines():
        key, _, label = line.partition(" ")
        if label.strip() == "human":
            out.add(key.rsplit("_", 1)[0])
    return out


def human_lines() -> list[str]:
    lines: list[str] = []
    for f in sorted((HUMANS / "logs").glob("*.log")):
        lines += f.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    return lines


def merge(
    out: Path,
    humans: list[str] | None = None,
    bot_filter: set[str] | None = None,
    bots: Path = BOTS,
) -> MergedLog:
    """Write the people's lines (all of them, or `humans`) and the bots' (all, or the sessions
    whose proxy address is in `bot_filter`; from the fixture, or make_logs.py's `bots` directory)
    as one log; what each line is."""
    people = human_session_ids()
    hlines = human_lines() if humans is None else humans
    starts = []
    seen: set[str] = set()
    for line in human_lines():
        m = _COOKIE.search(line)
        if m and m.group(2) in people and m.group(2) not in seen:
            seen.add(m.group(2))
            starts.append(dt.datetime.strptime(m.group(1), _TIME))
    starts.sort()
    kits = {r["xff"]: r["kit"] for r in csv.DictReader(open(bots / "sessions.csv"))}
    bot = [_BOT_LINE.match(x) for x in (bots / "access.log").read_text().splitlines()]
    first: dict[str, dt.datetime] = {}
    for m in bot:
        first.setdefault(m.group(1), dt.datetime.strptime(m.group(3), _TIME))
    order = sorted(first, key=lambda k: first[k])
    shift = {k: starts[i % len(starts)] - first[k] for i, k in enumerate(order)}
    merged = MergedLog(out, people, kits)
    rows = list(hlines)
    for m in bot:
        addr = m.group(1)
        if bot_filter is not None and addr not in bot_filter:
            continue
        at = (dt.datetime.strptime(m.group(3), _TIME) + shift[addr]).strftime(_TIME)
        rest = m.group(4).replace("http://127.0.0.1:18080", "http://160.40.52.164")
        rows.append(f"{addr} {m.group(2)} [{at}] {rest}")
        merged.bot_lines[len(rows)] = addr
    out.write_text("\n".join(rows) + "\n", encoding="utf-8", errors="surrogateescape")
    return merged


def sessions_of(merged: MergedLog) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Line numbers of each annotated person's session cookie, and of each bot session."""
    people: dict[str, list[int]] = {}
    bots: dict[str, list[int]] = {}
    text = merged.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    for n, line in enumerate(text, 1):
        if n in merged.bot_lines:
            bots.setdefault(merged.bot_lines[n], []).append(n)
            continue
        m = _COOKIE.search(line)
        if m and m.group(2) in merged.human_sessions:
            people.setdefault(m.group(2), []).append(n)
    return people, bots
