"""The block SQL must give exactly the rows, reports and rejected lines of the per-line reader."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from qinglang.events import MAX_UA, MAX_URL
from qinglang.ingest import nginx, read_events
from qinglang.ingest.nginx import USED
from qinglang.ingest.nginx_block import BlockParser, block_parser_for
from qinglang.ingest.nginx_format import compile_format

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"
IPS = ["1.2.3.4", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0", "999.1.1.1", "-", "not-ip",
       "12345", " 1.2.3.4", "1:2:3:4:5:6::7:8"]  # fmt: skip
TIMES = ["01/Sep/2017:00:00:02 +0800", "31/Sep/2017:00:00:02 +0800", "01/sep/2017:00:00:02 +0800",
         "01/Sep/1999:00:00:02 +0000", "01/Sep/2017:24:00:00 +0000", "01/Sep/2017:10:00:00 +2400",
         "01/Sep/2017:10:00:00 -0930", "01/Sep/2017:10:00:00 +0099", "1/Sep/2017:10:00:00 +0000",
         "29/Feb/2016:23:59:59 -0000", "29/Feb/2017:23:59:59 +0000", "-", "01/Sep/2017:10:00:60 +0000",
         "31/Dec/2099:23:59:59 -0100"]  # fmt: skip
REQUESTS = ["GET / HTTP/1.1", "GET /a/b?x=1 HTTP/1.1", "GET /img/A.JPG HTTP/1.1",
            "GET /static/app.js?v=2 HTTP/2.0", "HEAD / HTTP/1.1", "POST /login HTTP/1.1",
            "get / HTTP/1.1", "GET  / HTTP/1.1", "GET /robots.txt HTTP/1.1", "-", "",
            "\\x16\\x03\\x01\\x00", "GET /caf\\xC3\\xA9 HTTP/1.1", "GET /q?a=\\x22b\\x22 HTTP/1.1",
            "GET http://other.example/ HTTP/1.1", "GET /x", "PROPFIND / HTTP/1.1",
            "ABCDEFGHIJKLMNOPQ / HTTP/1.1", "GET /.well-known/x HTTP/1.1", "GET /Sitemap.XML HTTP/1.1",
            "GET /" + "a" * (MAX_URL + 10) + " HTTP/1.1", "GET /sitemap.xml.html HTTP/1.1",
            "GET /x.css.html HTTP/1.1", "GET /é HTTP/1.1", "GET /doc/A.PDF HTTP/1.1",
            "GET /app.apk?v=1 HTTP/1.1", "GET /go/x.ai HTTP/1.1", "GET /a.tar.gz HTTP/1.1"]  # fmt: skip
STATUSES = ["200", "204", "301", "304", "404", "500", "-", "99", "1000", "2000", "abc", "20"]
SIZES = ["0", "512", "-", "0123", "99999999999999999999", "-5", "1.5"]
REFERRERS = ["-", "", "https://www.baidu.com/s?wd=x", "https://target.example/a", "\\x22quoted\\x22",
             "http://ex.example/" + "r" * (MAX_URL + 1)]  # fmt: skip
AGENTS = ["-", UA, "curl/8.0", "Mozilla/5.0 (iPhone) 微信", "A" * (MAX_UA + 5), "x\\\\y"]


def pick(rnd: random.Random, pool: list[str]) -> str:
    """Mostly one of the first two (ordinary) values, else any: most lines are plain."""
    return rnd.choice(pool[:2] if rnd.random() < 0.8 else pool)


def combined_line(rnd: random.Random) -> str:
    ip, when, request = pick(rnd, IPS), pick(rnd, TIMES), pick(rnd, REQUESTS)
    status, size = pick(rnd, STATUSES), pick(rnd, SIZES)
    return (
        f'{ip} - - [{when}] "{request}" {status} {size} '
        f'"{pick(rnd, REFERRERS)}" "{pick(rnd, AGENTS)}"'
    )


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_both(paths: list[Path], vouched: list[int] | None = None, **options):
    """(table, reports) read with the block SQL, then the same with every line per line;
    `vouched` gets the number of rows the block SQL gave."""
    parse = BlockParser.parse

    def counted(self, linenos, texts):
        rows, others = parse(self, linenos, texts)
        if vouched is not None:
            vouched.append(rows.num_rows)
        return rows, others

    BlockParser.parse = counted
    try:
        fast = read_events(paths, fmt="nginx", **options)
        fast_table = fast.to_reader().read_all()
    finally:
        BlockParser.parse = parse
    original = nginx.block_parser_for
    nginx.block_parser_for = lambda *a, **k: None
    try:
        slow = read_events(paths, fmt="nginx", **options)
        slow_table = slow.to_reader().read_all()
    finally:
        nginx.block_parser_for = original
    return (fast_table, fast.reports), (slow_table, slow.reports)


def same_reports(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert (x.rows_ok, x.rows_bad, x.rows_skipped, x.naive_ts) == (
            y.rows_ok, y.rows_bad, y.rows_skipped, y.naive_ts,
        )  # fmt: skip
        assert [(e.line, e.field, e.message) for e in x.errors] == [
            (e.line, e.field, e.message) for e in y.errors
        ]
        assert x.truncated == y.truncated and x.rejected_by == y.rejected_by
        assert x.notes == y.notes and x.sha256 == y.sha256


@pytest.mark.parametrize("batch_size", [50, 65536])
def test_generated_lines_read_the_same_both_ways(tmp_path, batch_size):
    rnd = random.Random(17)
    lines = [combined_line(rnd) for _ in range(3000)]
    lines[5:5] = ["", "   ", "garbage that matches nothing"]
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\r\n", encoding="utf-8")
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both(
        [log], vouched, batch_size=batch_size, site="shop"
    )
    assert fast.equals(slow)
    same_reports(fast_reports, slow_reports)
    # both paths are exercised in earnest: most rows from the SQL, hundreds of lines per line
    assert sum(vouched) > 500 and fast.num_rows - sum(vouched) > 100
    assert fast_reports[0].rows_bad > 100
    assert sum(fast_reports[0].truncated.values()) > 0


def test_lines_that_are_not_text_and_a_real_looking_log_read_the_same(tmp_path):
    good = f'1.2.3.4 - - [01/Sep/2017:00:00:02 +0800] "GET /a HTTP/1.1" 200 5 "-" "{UA}"\n'
    data = (
        "\ufeff".encode() + good.encode() * 3
        + b'1.2.3.4 - - [01/Sep/2017:00:00:03 +0800] "GET /\xff HTTP/1.1" 200 5 "-" "x"\n'
        + good.encode()
        + b'1.2.3.4 - - [01/Sep/2017:00:00:04 +0800] "GET /\x00 HTTP/1.1" 200 5 "-" "x"\n'
        + good.encode() * 2
    )  # fmt: skip
    log = tmp_path / "mixed.log"
    log.write_bytes(data)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both([log], vouched, batch_size=4)
    assert fast.equals(slow) and fast.num_rows == 6 and sum(vouched) == 6
    same_reports(fast_reports, slow_reports)
    assert [e.line for e in fast_reports[0].errors] == [4, 6]


# the real logs' format (their PROVENANCE): a PHP session id in the visitor cookie's place
REAL = (
    '$remote_addr $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '$cookie_vid "$http_user_agent"'
)


def test_the_shared_real_logs_read_the_same_both_ways():
    real = Path(__file__).resolve().parents[3] / "shared" / "data"
    logs = sorted(real.glob("webbot-humans/logs/*.log"))
    if not logs:
        pytest.skip("no shared access logs on this machine")
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both(logs, vouched, log_format=REAL)
    assert fast.equals(slow)
    same_reports(fast_reports, slow_reports)
    assert sum(vouched) > 0.9 * fast.num_rows > 50_000  # the block SQL reads nearly all of it


@pytest.mark.parametrize(
    ("spec", "block"),
    [
        ("combined", True),
        ('$remote_addr [$time_local] "$request" $status $bytes_sent "$http_user_agent" $request_time',
         True),
        ("main", True),  # nginx.conf's default: the forwarded address too
        ('$remote_addr [$time_local] "$request" $status $http_x_forwarded_for $remote_port', True),
        ('$remote_addr [$time_local] "$request" $status $host', False),
        ('$remote_addr [$time_local] "$request" $cookie_uid $cookie_theme', True),
        ('$remote_addr [$time_local] "$request" $http_cookie', False),
        ('$remote_addr [$time_iso8601] "$request" $status', False),
        ('$remote_addr [$time_local] "$request" $status $status', False),
    ],
)  # fmt: skip
def test_formats_the_block_sql_reads_and_those_it_leaves_to_lines(spec, block):
    assert (block_parser_for(compile_format(spec), frozenset(USED), "f", None) is not None) is block


def test_a_custom_format_reads_the_same_both_ways(tmp_path):
    spec = (
        '$remote_addr [$time_local] "$request" $status $bytes_sent "$http_user_agent" $request_time'
    )
    rnd = random.Random(3)
    lines = [
        f'{pick(rnd, IPS)} [{pick(rnd, TIMES)}] "{pick(rnd, REQUESTS)}" {pick(rnd, STATUSES)} '
        f'{pick(rnd, SIZES)} "{pick(rnd, AGENTS)}" 0.{rnd.randint(0, 999):03d}'
        for _ in range(800)
    ]
    log = write_log(tmp_path / "custom.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both(
        [log], vouched, log_format=spec, batch_size=50
    )
    assert fast.equals(slow) and sum(vouched) > 100
    same_reports(fast_reports, slow_reports)


FORWARDED = ["-", "", "203.0.113.9", "203.0.113.9, 10.0.0.1", " 2001:db8::2 ,10.0.0.1", "unknown",
             "unknown, 203.0.113.9", "-, 203.0.113.9", "999.1.1.1", "::ffff:1.2.3.4", ", 1.2.3.4"]  # fmt: skip


def test_the_main_format_with_forwarded_addresses_reads_the_same_both_ways(tmp_path):
    rnd = random.Random(11)
    lines = [combined_line(rnd) + f' "{rnd.choice(FORWARDED)}"' for _ in range(1500)]
    log = write_log(tmp_path / "main.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both(
        [log], vouched, log_format="main", batch_size=200
    )
    assert fast.equals(slow) and sum(vouched) > 150
    same_reports(fast_reports, slow_reports)
    assert "203.0.113.9" in set(fast.column("ip").to_pylist())


def test_combined_and_main_lines_in_one_log_read_the_same_both_ways(tmp_path):
    # the default format reads nginx.conf's stock `main` too: a log switched mid-file
    rnd = random.Random(12)
    plain = [combined_line(rnd) for _ in range(1500)]
    lines = [line + (f' "{rnd.choice(FORWARDED)}"' if rnd.random() < 0.5 else "") for line in plain]
    log = write_log(tmp_path / "mixed.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both([log], vouched, batch_size=200)
    assert fast.equals(slow) and sum(vouched) > 150
    same_reports(fast_reports, slow_reports)
    # the forwarded address is the client's to write: only `--log-format main` trusts it
    assert "203.0.113.9" not in set(fast.column("ip").to_pylist())
    # with no forwarded address ("-"), a line of either shape reads as its combined part
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (alone, _), _ = read_both([write_log(tmp_path / "a" / "x.log", plain)])
    dashed = [line + (' "-"' if i % 2 else "") for i, line in enumerate(plain)]
    (both, _), _ = read_both([write_log(tmp_path / "b" / "x.log", dashed)])
    assert both.num_rows > 150 and both.equals(alone)


def test_long_lines_end_a_block_early_and_read_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(nginx, "BLOCK_CHARS", 1000)
    ua = "Mozilla/5.0 " + "x" * (MAX_UA - 20)
    lines = [
        f'1.2.3.{i % 250} - - [01/Sep/2017:00:00:{i % 60:02d} +0800] "GET /p{i} HTTP/1.1" 200 5 '
        f'"-" "{ua if i % 3 else UA}"'
        for i in range(200)
    ]
    log = write_log(tmp_path / "long.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both([log], vouched)
    assert fast.equals(slow) and fast.num_rows == 200 and sum(vouched) == 200
    assert len(vouched) > 50  # blocks of a line or two, not one of 200
    same_reports(fast_reports, slow_reports)


def good_line(i: int) -> str:
    return (
        f'1.2.3.4 - - [01/Sep/2017:00:00:{i % 60:02d} +0800] "GET /p{i} HTTP/1.1" 200 5 "-" "{UA}"'
    )


def test_a_block_of_lines_that_are_all_bad_text_reads_the_same(tmp_path):
    """A block whose every line LineSource flagged (here: all of them after the first) sends
    nothing to the SQL; it must still read, not crash."""
    log = tmp_path / "gbk.log"
    log.write_bytes((good_line(0) + "\n").encode() + b"\xff\xfe bad\n" * 20 + b"a\x00b\n")
    (fast, fast_reports), (slow, slow_reports) = read_both([log], batch_size=3)
    assert fast.equals(slow) and fast.num_rows == 1
    same_reports(fast_reports, slow_reports)
    assert fast_reports[0].rows_bad == 21


def test_names_that_differ_only_in_case_and_sizes_past_2_to_the_53_read_the_same(tmp_path):
    spec = '$remote_addr [$time_local] "$request" $status $body_bytes_sent $cookie_uid $cookie_UID $Status'
    lines = [
        f'1.2.3.4 [01/Sep/2017:00:00:02 +0800] "GET /a HTTP/1.1" 200 {size} u1 U2 x'
        for size in ("9007199254740993", "4611686018427387904", "4611686018427387905", "5")
    ]
    log = write_log(tmp_path / "case.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both([log], vouched, log_format=spec)
    assert fast.equals(slow) and sum(vouched) == 2  # 19 digits: read line by line
    same_reports(fast_reports, slow_reports)
    assert fast.column("bytes").to_pylist() == [9007199254740993, 4611686018427387904, 5]
    assert fast.column("visitor_id").to_pylist() == ["u1"] * 3


def test_a_cut_gzip_stream_is_reported_after_the_lines_before_it(tmp_path):
    import gzip

    body = "\n".join([good_line(i) for i in range(2000)] + ["garbage"]).encode()
    body += b"\n" + "\n".join(good_line(i) for i in range(20000)).encode()
    packed = gzip.compress(body)
    log = tmp_path / "cut.log.gz"
    log.write_bytes(packed[: len(packed) // 2])
    (fast, fast_reports), (slow, slow_reports) = read_both([log], batch_size=500)
    assert fast.equals(slow)
    same_reports(fast_reports, slow_reports)
    errors = fast_reports[0].errors
    assert errors[0].line == 2001 and "ends early" in errors[-1].message


def test_strict_reading_stops_where_the_per_line_reader_does(tmp_path):
    from qinglang.errors import TooManyBadRows

    log = tmp_path / "strict.log"
    log.write_text("\n".join([good_line(1), "garbage", good_line(2), good_line(3)]) + "\n")
    for per_line in (False, True):
        original = nginx.block_parser_for
        if per_line:
            nginx.block_parser_for = lambda *a, **k: None
        try:
            stream = read_events([log], fmt="nginx", strict=True)
            with pytest.raises(TooManyBadRows):
                stream.to_reader().read_all()
        finally:
            nginx.block_parser_for = original
        assert stream.reports[0].rows_ok == 1 and stream.reports[0].errors[0].line == 2


def test_an_error_inside_the_sql_leaves_the_block_to_the_per_line_reader(tmp_path, monkeypatch):
    import duckdb

    log = tmp_path / "x.log"
    log.write_text("\n".join(good_line(i) for i in range(10)) + "\n")

    def broken(self, linenos, texts):
        if linenos:
            raise duckdb.InvalidInputException("simulated")
        return parse(self, linenos, texts)

    parse = BlockParser.parse
    monkeypatch.setattr(BlockParser, "parse", broken)
    stream = read_events([log], fmt="nginx")
    assert stream.to_reader().read_all().num_rows == 10
    assert stream.reports[0].rows_ok == 10


def test_a_block_of_thousands_of_lines_that_are_not_utf8_reads_the_same(tmp_path):
    """Each flagged line's reason is taken at once (a scan of all the block's flagged lines per
    line made a GBK log quadratic: minutes per block of 65,536)."""
    gbk = '1.2.3.4 - - [01/Sep/2017:00:00:02 +0800] "GET /中文 HTTP/1.1" 200 5 "-" "x"\n'
    log = tmp_path / "gbk.log"
    log.write_bytes((good_line(0) + "\n").encode() * 5 + gbk.encode("gbk") * 30_000)
    (fast, fast_reports), (slow, slow_reports) = read_both([log])
    assert fast.equals(slow) and fast.num_rows == 5
    same_reports(fast_reports, slow_reports)
    assert fast_reports[0].rows_bad == 30_000


HINTS_FORMAT = (
    '$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$http_sec_ch_ua"'
)
# as nginx writes the header: each double quote escaped as \x22
CHROMIUM_156 = r"\x22Not:A-Brand\x22;v=\x228\x22, \x22Chromium\x22;v=\x22156\x22"


@pytest.mark.parametrize("batch_size", [3, 65536])
def test_the_sec_ch_ua_header_reads_the_same_both_ways(tmp_path, batch_size):
    """The Sec-CH-UA header becomes client.ch_ua, its escaped quotes decoded, by the block SQL
    as by the per-line reader; a value with any other escape, or too long, is read per line."""
    json_escaped = CHROMIUM_156.replace(r"\x22", '\\"')  # what `escape=json` writes
    values = [CHROMIUM_156, "-", "", r"\x22a\x5Cb\x22", "x" * 5000, r"\x22\x22", CHROMIUM_156,
              json_escaped, "\\\\", 'a\\\\\\"b']  # fmt: skip
    quoted = r"https://s.example/?q=\x22x\x22"  # an escaped quote elsewhere on the line
    lines = [
        f'1.2.3.4 - - [01/Sep/2017:00:00:0{i} +0800] "GET /a HTTP/1.1" 200 5 '
        f'"{quoted if i == 2 else "-"}" "{UA}" "{value}"'
        for i, value in enumerate(values)
    ]
    log = write_log(tmp_path / "hints.log", lines)
    vouched: list[int] = []
    (fast, fast_reports), (slow, slow_reports) = read_both(
        [log], vouched, batch_size=batch_size, log_format=HINTS_FORMAT
    )
    assert fast.equals(slow)
    same_reports(fast_reports, slow_reports)
    assert sum(vouched) == 6  # all but the other escapes and the over-long value
    assert fast_reports[0].truncated == {"client.ch_ua": 1}  # cut at 256 and counted, as Parquet's
    hints = [c and c["ch_ua"] for c in fast.column("client").to_pylist()]
    assert hints[0] == hints[6] == '"Not:A-Brand";v="8", "Chromium";v="156"'
    assert hints[1] is None and hints[2] is None and hints[3] == '"a\\b"'
    assert hints[5] == '""' and hints[7] == hints[0]
    assert hints[8] == "\\" and hints[9] == 'a\\"b'  # \\ is a backslash: read per line
    assert fast.column("referrer").to_pylist()[2] == 'https://s.example/?q="x"'
