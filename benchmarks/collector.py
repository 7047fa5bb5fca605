"""Beacons per second and p50/p99 latency of the collector against nginx, same machine, same run.

    python benchmarks/collector.py                    # 10 s per phase, 64 and 256 connections
    python benchmarks/collector.py --seconds 5 --connections 32 --rounds 5

Needs Debian's `nginx` (or nginx-light) and `wrk` (`apt-get install nginx-light wrk`). nginx runs
one worker that answers `return 204` and writes an access log. The collector (`qinglang serve`)
runs once per engine it has: the Rust front (if built) and the Python ASGI app. Each validates,
checks the site and the token, and acknowledges a beacon only once it is fsync'd (group commit).
wrk (one thread) POSTs the same tracker-like beacon to every server, at each count of
connections. nginx and the collector take turns, phase by phase (nginx, then the collector, at
each count, `--rounds` times for the Rust front, once for the Python engine): each ratio is a
collector phase over the nginx phase just before it, and the median of the rounds is the
figure, so a machine whose speed drifts (shared cores) moves both sides of a ratio alike. Two
empty handlers on Python servers show what any Python collector could reach.
Then a 10x overload phase (10x the first count) shows what the collector answers and how the
memory of its processes (RSS, sampled every 100 ms) behaves; its queue (256 rows, or twice the
most connections) fills, and past that it answers 503 + Retry-After. Last, a phase with valid
tokens: 1,000 page views' tokens from the collector's /t.js, each beacon with the next sequence
number of its page view (as the tracker sends them), so the collector verifies every token's
MAC and records it against replays; nginx gets the same requests. Prints the ratios
collector/nginx: the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from qinglang.collect.sites import lake_dir

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

ORIGIN = "http://shop.example"
BEACON = {
    "site": "shop",
    "event": "pageview",
    "url": ORIGIN + "/sale?utm_source=bench",
    "referrer": "https://www.example.org/",
    "vid": "0123456789abcdef01234567",
    "client": {
        "framed": False,
        "viewport_w": 390,
        "viewport_h": 844,
        "screen_w": 390,
        "screen_h": 844,
        "visible_ms": 5230,
        "dwell_ms": 5400,
        "interactions": 7,
        "first_interaction_ms": 820,
        "webdriver": False,
        "tells": [],
        "tz": "Asia/Shanghai",
        "lang": "zh-CN",
        "platform": "iPhone",
        "pv_id": "abcdefabcdefabcdefabcdef",
    },
}
EMPTY_APP = """async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Rsgi:
    async def __rsgi__(self, scope, proto):
        await proto()
        proto.response_empty(204, [])


rsgi = Rsgi()
"""
NGINX_CONF = """worker_processes 1;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log {p}/access.log;
  client_body_temp_path {p}/body;
  server {{
    listen 127.0.0.1:{port} backlog=2048;
    location / {{ return 204; }}
  }}
}}
"""


UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
HEADERS = (
    'wrk.headers["Content-Type"] = "text/plain"\n'
    f'wrk.headers["Origin"] = "{ORIGIN}"\n'
    f'wrk.headers["User-Agent"] = "{UA}"\n'
)
PAGE_VIEWS = 1000


def static_script() -> str:
    """The same beacon, without a token, on every request."""
    return f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BEACON))}\n' + HEADERS


def token_script(tokens: list[str]) -> str:
    """Beacons of len(tokens) page views in turn, each with its page view's token and next
    sequence number (a valid token, never a replay). Each request is built up front but for
    its sequence number, padded with spaces to 7 characters (JSON allows it), so that its
    length, and so the whole head, is fixed: wrk only joins three strings per request. The
    beacons are ASCII, so JSON's string literals are Lua's."""
    views = []
    for pv, token in enumerate(tokens):
        client = {**BEACON["client"], "pv_id": f"{pv:024x}"}
        body = json.dumps({**BEACON, "client": client, "token": token, "seq": 0})
        head, tail = body.split('"seq": 0')
        length = len(head) + len('"seq": ') + 7 + len(tail)
        request = (
            f"POST /b HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            f"Origin: {ORIGIN}\r\nUser-Agent: {UA}\r\nContent-Length: {length}\r\n\r\n"
            + head
            + '"seq": '
        )
        views.append("{" + json.dumps(request) + ", " + json.dumps(tail) + "}")
    return (
        "local views = {"
        + ",\n".join(views)
        + "}\n"
        + 'local pad = {"      ", "     ", "    ", "   ", "  ", " ", ""}\n'
        + "local n = 0\n"
        + "request = function()\n"
        + "  local v = views[n % #views + 1]\n"
        + "  local seq = tostring(math.floor(n / #views))\n"
        + "  n = n + 1\n"
        + "  return v[1] .. seq .. pad[#seq] .. v[2]\n"
        + "end\n"
    )


def tokens(port: int, count: int) -> list[str]:
    """Page tokens from the collector's tracker, as a browser loading /t.js gets them."""
    out = []
    with httpx.Client(headers={"User-Agent": UA}) as client:
        for _ in range(count):
            js = client.get(f"http://127.0.0.1:{port}/t.js", params={"site": "shop"}).text
            out.append(re.search(r'"token":\s*"([^"]+)"', js).group(1))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def empty_servers() -> list[tuple[str, list[str]]]:
    """Python servers answering 204 with an empty handler: what any Python collector could reach."""
    bindir = Path(sys.executable).parent
    out = [
        (
            "empty ASGI app (uvicorn)",
            [str(bindir / "uvicorn"), "empty_app:app", "--loop", "uvloop", "--http", "httptools",
             "--log-level", "warning", "--no-access-log"],
        )
    ]  # fmt: skip
    if (bindir / "granian").exists():  # pip install -e ".[bench]"
        out.append(
            (
                "empty RSGI app (granian)",
                [str(bindir / "granian"), "--interface", "rsgi", "--workers", "1", "--no-ws",
                 "--log-level", "warning", "empty_app:rsgi"],
            )
        )  # fmt: skip
    return out


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def lake_rows(db: Path) -> int:
    """Rows in the collector's Parquet lake (from the files' footers)."""
    files = lake_dir(db).glob("site=*/*.parquet")
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def family(pid: int) -> list[int]:
    """A process and its descendants (the collector's front and the process that rolls its
    segments into the lake; nginx's worker)."""
    pids, parents = [pid], {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    for p in pids:
        pids += parents.get(p, [])
    return pids


def cpu_seconds(pids: list[int]) -> dict[str, float]:
    """CPU time (user + system) of these processes so far, by command name."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[comm] = out.get(comm, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def wrk(url: str, seconds: int, connections: int, script: Path, server: int) -> dict:
    """One phase: wrk's report, and the CPU time per request of the server's processes and of
    wrk itself (the two share the machine's cores)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    procs = family(server)
    before, wrk_before = cpu_seconds(procs), resource.getrusage(resource.RUSAGE_CHILDREN)
    text = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    after, wrk_after = cpu_seconds(procs), resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", text)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (
        wrk_before.ru_utime + wrk_before.ru_stime
    )
    return {
        "rps": rps,
        "requests": total,
        "cpu_us": {name: 1e6 * t / max(1, total) for name, t in cpu.items()},
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
    }


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        procs, found = family(self.pid), time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - found >= 2.0:  # scanning /proc costs CPU the server would use
                procs, found = family(self.pid), time.monotonic()
            total = 0.0
            for pid in procs:
                try:
                    text = Path(f"/proc/{pid}/status").read_text()
                    total += int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024
                except (OSError, AttributeError):
                    continue
            self.samples.append(total)
            time.sleep(0.1)


class Nginx:
    """The baseline: nginx's URL and pid, measured in the same rounds as each collector."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid = url, pid

    def phase(self, seconds: int, connections: int, script: Path) -> dict:
        return wrk(self.url, seconds, connections, script, self.pid)


def engine_run(
    engine: str,
    t: Path,
    qinglang: str,
    seconds: int,
    conns: list[int],
    script: Path,
    rounds: int,
    nginx: Nginx,
) -> dict:
    """One engine of `qinglang serve`, against nginx in alternating phases (nginx, then the
    collector, at each count of connections, `rounds` times: a drift of the machine's speed
    then moves both sides of each ratio alike); then 10x the first count, its memory and its
    metrics; then the same alternation with valid tokens (new page views for every phase, so
    that no beacon is a replay; nginx gets the same requests). The queue holds 256 rows, or
    twice the most connections, so that the overload can fill it."""
    c = conns[0]
    queue = str(max(256, 2 * max(conns)))
    db = t / engine / "c.db"
    db.parent.mkdir()
    subprocess.run(
        [qinglang, "site", "add", "shop", "--origin", ORIGIN, "--db", str(db)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/b"
    collector = subprocess.Popen(
        [qinglang, "serve", "--db", str(db), "--port", str(port), "--queue", queue,
         "--engine", engine],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    normal: dict[int, list[dict]] = {n: [] for n in conns}
    signed: dict[int, list[dict]] = {n: [] for n in conns}
    base: dict[int, list[dict]] = {n: [] for n in conns}
    base_signed: dict[int, list[dict]] = {n: [] for n in conns}
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        start = cpu_seconds(family(collector.pid))
        rss = RssSampler(collector.pid)
        rss.start()
        for _ in range(rounds):
            for n in conns:
                base[n].append(nginx.phase(seconds, n, script))
                normal[n].append(wrk(url, seconds, n, script, collector.pid))
        normal_rss = max(rss.samples)
        over = wrk(url, seconds, 10 * c, script, collector.pid)
        rss.stop.set()
        rss.join()
        for r in range(rounds):
            for n in conns:
                signed_script = t / engine / f"tokens-{r}-{n}.lua"
                signed_script.write_text(token_script(tokens(port, PAGE_VIEWS)))
                base_signed[n].append(nginx.phase(seconds, n, signed_script))
                signed[n].append(wrk(url, seconds, n, signed_script, collector.pid))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        # The rolling runs at idle priority and lags under load: its CPU time in a phase may
        # belong to rows of an earlier one. Once it has caught up, the whole run's CPU time
        # over the rows it stored is the cost per row with the rolling included.
        stored = sum(
            float(v)
            for v in re.findall(r'qinglang_collector_rows_total\{token="\w+"\} ([\d.e+]+)', metrics)
        )
        waited = time.monotonic()
        while lake_rows(db) < stored and time.monotonic() < waited + 300:
            time.sleep(0.5)  # the active segment rolls after 5 s without new rows
        rolled_after = time.monotonic() - waited
        caught_up = lake_rows(db) >= stored
        whole = cpu_seconds(family(collector.pid))
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(60)
    rows = stored
    groups = float(
        re.search(r"qinglang_collector_group_commits_total ([\d.e+]+)", metrics).group(1)
    )
    per_row = {name: 1e6 * (t - start.get(name, 0.0)) / rows for name, t in whole.items()}
    return {"normal": normal, "over": over, "rss": normal_rss, "peak": max(rss.samples),
            "rows": rows, "groups": groups, "signed": signed, "base": base,
            "base_signed": base_signed, "per_row": per_row, "rolled_after": rolled_after,
            "caught_up": caught_up}  # fmt: skip


def ratios(runs: list[dict], bases: list[dict]) -> list[float]:
    """Each phase's rate over the nginx phase just before it."""
    return [r["rps"] / b["rps"] for r, b in zip(runs, bases, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=10, help="duration of each phase (max 60)")
    ap.add_argument(
        "--connections", default="64,256", help="comma-separated counts; overload is 10x the first"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternations nginx/Rust front per count (max 10)"
    )
    args = ap.parse_args()
    seconds = max(1, min(args.seconds, 60))
    rounds = max(1, min(args.rounds, 10))
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found: apt-get install nginx-light wrk")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    qinglang = str(Path(sys.executable).with_name("qinglang"))
    from qinglang.collect.front import find_front

    engines = ["rust", "python"] if find_front() else ["python"]
    if len(engines) == 1:
        print(
            "qinglang-front not built: measuring the Python engine only (README, 'Collector engines')"
        )
    conns = [int(x) for x in args.connections.split(",")]
    c = conns[0]
    with tempfile.TemporaryDirectory(prefix="ql-bench-") as tmp:
        t = Path(tmp)
        script = t / "post.lua"
        script.write_text(static_script())
        (t / "nginx").mkdir()
        nport = free_port()
        (t / "nginx" / "nginx.conf").write_text(NGINX_CONF.format(p=t / "nginx", port=nport))
        nginx = subprocess.Popen(
            [nginx_bin, "-p", str(t / "nginx"), "-c", str(t / "nginx" / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:  # nginx idles while the others run
            wait_up(f"http://127.0.0.1:{nport}/")
            baseline = Nginx(f"http://127.0.0.1:{nport}/b", nginx.pid)
            (t / "empty_app.py").write_text(EMPTY_APP)
            ceilings = {}
            for name, cmd in empty_servers():
                eport = free_port()
                empty = subprocess.Popen(cmd + ["--port", str(eport)], cwd=t)
                try:
                    wait_up(f"http://127.0.0.1:{eport}/")
                    ceilings[name] = (
                        baseline.phase(seconds, c, script),
                        wrk(f"http://127.0.0.1:{eport}/b", seconds, c, script, empty.pid),
                    )
                finally:
                    empty.terminate()
                    empty.wait(30)
            # the Python engine is far from the target: one round is enough to show it
            runs = {
                e: engine_run(e, t, qinglang, seconds, conns, script,
                              rounds if e == "rust" else 1, baseline)
                for e in engines
            }  # fmt: skip
        finally:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(30)
        logged = sum(1 for _ in open(t / "nginx" / "access.log", "rb"))
    report(runs, ceilings, conns, logged)


def report(runs: dict, ceilings: dict, conns: list[int], logged: int) -> None:
    c = conns[0]
    print(f"{'':62}{'beacons/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    table = [(f"{name}, {c} conns (nginx just before: {b['rps']:,.0f})", r)
             for name, (b, r) in ceilings.items()]  # fmt: skip
    for e, r in runs.items():
        for kind, base, mine in (
            ("", "base", "normal"),
            ("valid tokens, ", "base_signed", "signed"),
        ):
            for n in conns:
                for k, (b, x) in enumerate(zip(r[base][n], r[mine][n], strict=True), 1):
                    table.append((f"nginx, {kind}{n} conns, round {k} (before {e})", b))
                    table.append((f"collector ({e}), {kind}{n} conns, round {k}", x))
        table.append((f"collector ({e}), {10 * c} conns", r["over"]))
    for name, r in table:
        print(
            f"{name:62}{r['rps']:>11,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['non_2xx']:>9,}"
        )
    print("\nCPU time per request, us: the server's processes (by name), then wrk")
    for name, r in table:
        cpu = r["cpu_us"]
        procs = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items()) if k != "wrk")
        print(f"{name:62}{procs}; wrk {cpu['wrk']:.1f}")
    for e, r in runs.items():
        procs = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["per_row"].items()))
        when = (
            f"once the rolling caught up ({r['rolled_after']:.0f} s after the last phase)"
            if r["caught_up"]
            else f"the rolling NOT caught up after {r['rolled_after']:.0f} s"
        )
        print(f"collector ({e}), the whole run per row stored, {when}: {procs}")
    print(
        "\nratio = each collector phase over the nginx phase just before it; median of the rounds"
    )
    for e, r in runs.items():
        for kind, base, mine, target in (("", "base", "normal", "  (target >= 0.5)"),
                                         (", valid tokens", "base_signed", "signed", "")):  # fmt: skip
            for n in conns:
                each = ratios(r[mine][n], r[base][n])
                shown = " ".join(f"{x:.2f}" for x in each)
                print(
                    f"ratio collector ({e})/nginx at {n} connections{kind}: "
                    f"{statistics.median(each):.2f}{target}  [rounds: {shown}]"
                )
    for name, (b, r) in ceilings.items():
        print(f"ratio {name}/nginx: {r['rps'] / b['rps']:.2f}  (a Python server's ceiling)")
    print(f"nginx access-log lines: {logged:,}")
    for e, r in runs.items():
        over = r["over"]
        share = over["non_2xx"] / max(1, over["requests"])
        print(
            f"collector ({e}): {r['rows']:,.0f} rows fsync'd in {r['groups']:,.0f} group commits; "
            f"at {10 * c} connections {over['rps']:,.0f} answers/s, {100 * share:.1f}% refused "
            f"(503 + Retry-After), socket errors: {over['socket_errors'] or 'none'}; "
            f"RSS {r['rss']:.0f} MiB at {c} connections, peak {r['peak']:.0f} MiB under overload"
        )


if __name__ == "__main__":
    main()
