"""Write simulated traffic as the web server's access log a buyer would hold.

    write_access_log(Path("c.parquet"), Path("c.log"))

One line per page request in nginx's ``combined`` format (IP, local time, request, status, bytes,
referrer, user agent: no tracker signals, no token, no visitor cookie), in time order, and beside
it ``c.log.truth.csv`` (``line,truth``) for evaluation. What a line says follows what each
simulated event already says about its client, never its truth:

* page views and conversions become ``GET`` requests of their page; in-page clicks, heartbeats and
  engagement actions make no request of the site and are left out;
* a page that ran in a browser (the event carries the tracker's client signals and a token the
  collector issued: ``valid`` or ``expired``) also fetches its subresources, as browsers do: the
  site's stylesheet, script, logo and favicon on a visitor's first page of the day (then they are
  cached), and one to three content images on every page, each a few hundred milliseconds later,
  with the page as referrer. A hit that never ran the page (a pixel, a hand-made or replayed
  beacon, a crawler) fetches nothing else;
* a visit's entry page carries the channel it was bought from as ``utm_source`` (the tagged link a
  buyer gives each seller), where the event has a source.

Times are written in Beijing time (``+0800``), as a server in the case would log them.
"""

from __future__ import annotations

import csv
import re
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

_TZ = timezone(timedelta(hours=8))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SHARED = (("/static/site.css", 18_204, 60), ("/static/app.js", 41_377, 90),
           ("/static/logo.png", 6_310, 150), ("/favicon.ico", 1_150, 250))  # fmt: skip
_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what nginx writes as \xHH
_COLUMNS = ["ts", "event", "ip", "user_agent", "url", "referrer", "source", "client", "token",
            "truth"]  # fmt: skip


def write_access_log(events: Path, out: Path, seed: int = 1) -> int:
    """Write `out` and `out`.truth.csv from a simulated Parquet file; returns the lines written."""
    table = pq.read_table(events, columns=_COLUMNS)
    table = table.filter(pc.is_in(table["event"], pc.cast(["pageview", "conversion"], "string")))
    ts = table["ts"].cast("int64").to_numpy()
    ran = (
        pc.is_valid(table["client"]).to_numpy(zero_copy_only=False)
        & pc.is_in(pc.fill_null(table["token"], ""), pc.cast(["valid", "expired"], "string"))
        .to_numpy(zero_copy_only=False)
    )  # fmt: skip
    cols = {c: table[c].to_pylist() for c in ("ip", "user_agent", "url", "referrer", "source",
                                              "truth")}  # fmt: skip
    rng = np.random.default_rng(seed)
    lines: list[tuple[int, int, str, str]] = []  # (ms, order, line, truth)
    cached: set[tuple[str | None, str | None, int]] = set()
    for i in np.argsort(ts, kind="stable"):
        ms = int(ts[i])
        ip, ua, truth = cols["ip"][i], cols["user_agent"][i], cols["truth"][i]
        page = _path(cols["url"][i], cols["referrer"][i], cols["source"][i])
        ref = cols["referrer"][i]
        lines.append((ms, len(lines), _line(ip, ms, page, 200, 20_000 + len(page) * 97, ref, ua),
                      truth))  # fmt: skip
        if not ran[i]:
            continue
        parts = urlsplit(cols["url"][i] or "")
        page_url = f"{parts.scheme}://{parts.netloc}{page}" if parts.netloc else page  # as loaded
        day = (ms + 8 * 3_600_000) // 86_400_000
        subresources: list[tuple[str, int, int]] = []
        if (ip, ua, day) not in cached:
            cached.add((ip, ua, day))
            subresources += _SHARED
        stem = zlib.crc32(page.encode()) % 100_000
        for k in range(int(rng.integers(1, 4))):
            subresources.append((f"/img/{stem}-{k}.jpg", 30_000 + 977 * k, 200 + 150 * k))
        for path, size, delay in subresources:
            at = ms + delay + int(rng.integers(0, 400))
            lines.append((at, len(lines), _line(ip, at, path, 200, size, page_url, ua), truth))
    lines.sort()
    with open(out, "w", encoding="utf-8", newline="\n") as log:
        log.writelines(line for _, _, line, _ in lines)
    with open(str(out) + ".truth.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["line", "truth"])
        writer.writerows((n, truth) for n, (_, _, _, truth) in enumerate(lines, 1))
    return len(lines)


def _path(url: str | None, referrer: str | None, source: str | None) -> str:
    parts = urlsplit(url or "/")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    entry = not referrer or urlsplit(referrer).netloc != parts.netloc
    if entry and source:
        path += ("&" if parts.query else "?") + "utm_source=" + quote(source, safe="")
    return path


def _line(ip: str | None, ms: int, path: str, status: int, size: int, referrer: str | None,
          ua: str | None) -> str:  # fmt: skip
    t = datetime.fromtimestamp(ms / 1000, UTC).astimezone(_TZ)
    stamp = f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S} +0800"
    return (
        f'{ip or "-"} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} '
        f'"{_esc(referrer)}" "{_esc(ua)}"\n'
    )


def _esc(text: str | None) -> str:
    """nginx's escaping of a variable: \\xHH for a quote, a backslash and control bytes."""
    if not text:
        return "-"
    return _ESCAPED.sub(lambda m: f"\\x{ord(m.group()):02X}", text)
