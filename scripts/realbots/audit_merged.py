"""Audit a real-browser bot log (make_logs.py's output) merged with the real people's logs.

    .venv/bin/python scripts/realbots/audit_merged.py /tmp/realbots-out
    .venv/bin/python scripts/realbots/audit_merged.py /tmp/realbots-out --client-hints --no-beacons

The bot sessions are moved onto the people's site as the tests do (`tests/realdata/logs.py`:
the people's log format and host, each bot session starting when one of the people's did) and
the merged log is audited. Prints, for the people (the 27 annotated human sessions of
`../shared/data/webbot-humans`) and for each bot kit, how many sessions were charged (one of
their page views invalid) and by which reasons.

--client-hints: the bot log was written with `make_logs.py --client-hints` (a last field, the
Sec-CH-UA header): the people's lines get `"-"` there (browsers of 2020 sent no such header) and
the log is audited with `"$http_sec_ch_ua"` in its format. Without it, that field is dropped.
--no-beacons: leave out the bots' `POST /collect` lines (the beacon the test site's script sends
when a page is hidden), as on a site whose pages send none.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import tests.realdata.logs as logs  # noqa: E402
import tests.realdata.test_real_logs as real  # noqa: E402

LAST_FIELD = re.compile(r' "[^"]*"$')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bots", type=Path, help="make_logs.py's --out-dir")
    parser.add_argument("--client-hints", action="store_true")
    parser.add_argument("--no-beacons", action="store_true")
    args = parser.parse_args()
    if not (logs.HUMANS / "logs").is_dir():
        sys.exit(f"the real people's logs are not at {logs.HUMANS}")
    work = Path(tempfile.mkdtemp(prefix="qinglang-merged-"))
    merged = logs.merge(work / "merged.log", bots=args.bots)
    rows: list[str] = []
    bot_lines: dict[int, str] = {}
    text = merged.path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    for n, line in enumerate(text, 1):
        if n in merged.bot_lines:
            if args.no_beacons and '"POST /collect ' in line:
                continue
            rows.append(line if args.client_hints else LAST_FIELD.sub("", line))
            bot_lines[len(rows)] = merged.bot_lines[n]
        else:
            rows.append(line + ' "-"' if args.client_hints else line)
    merged.path.write_text("\n".join(rows) + "\n", encoding="utf-8", errors="surrogateescape")
    merged.bot_lines = bot_lines
    log_format = logs.LOG_FORMAT + (' "$http_sec_ch_ua"' if args.client_hints else "")
    labels = real.audit(merged.path, work / "out", log_format=log_format)
    people, bots = logs.sessions_of(merged)
    charged = [k for k, lines in people.items() if real.charged(lines, labels)]
    print(f"people: {len(charged)} of {len(people)} sessions charged")
    by_kit: dict[str, list[str]] = {}
    for address, kit in merged.bot_kit.items():
        if address in bots:
            by_kit.setdefault(kit, []).append(address)
    for kit, addresses in by_kit.items():
        caught = [a for a in addresses if real.charged(bots[a], labels)]
        reasons = Counter(
            r
            for a in caught
            for n in bots[a]
            if labels[n]["page"] and labels[n]["verdict"] == "invalid"
            for r in labels[n]["reasons"]
        )
        print(f"{kit}: {len(caught)} of {len(addresses)} sessions charged; {dict(reasons)}")
    print(f"(the merged log and the audit: {work})")


if __name__ == "__main__":
    main()
