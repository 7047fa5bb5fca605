from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinglang.errors import ConfigError, InputError, TooManyBadRows
from qinglang.ingest.nginx_format import (
    compile_format,
    decode_escapes,
    normalize,
    parse_time_local,
)

from .conftest import DATA, read_table

CUSTOM = (
    '$remote_addr [$time_iso8601] $host "$request" $status "$http_user_agent" '
    '"$http_x_forwarded_for" $cookie_qv_uid $request_id $upstream_time'
)
CUSTOM_LINE = (
    '10.0.0.1 [2024-03-01T12:00:00+08:00] shop.example "GET /p/1?x=2 HTTP/2.0" 200 '
    '"Mozilla/5.0 \\"quoted\\"" "203.0.113.5, 10.0.0.1" abc123 req-77 0.012\n'
)


def nginx_escape(text: str) -> str:
    """What nginx writes for a variable value by default: \\xHH for ", \\, controls and non-ASCII."""
    out = []
    for b in text.encode("utf-8"):
        out.append(f"\\x{b:02X}" if b in (0x22, 0x5C) or b < 0x20 or b >= 0x7F else chr(b))
    return "".join(out)


def test_combined_log():
    table, stream = read_table(DATA / "access.log", fmt="nginx")
    rows = table.to_pylist()
    assert [r["event_id"] for r in rows] == ["access.log:1", "access.log:2", "access.log:3"]
    first, asset, last = rows
    assert first["ts"] == datetime(2023, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert first["ip"] == "203.0.113.7"
    assert first["url"] == "/products/42?utm_source=ad"
    assert first["referrer"] == "https://www.google.com/"
    assert first["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert (first["event"], first["method"], first["status"], first["bytes"]) == (
        "pageview", "GET", 200, 2326)  # fmt: skip
    assert first["asset"] is None
    # a static asset is kept for behaviour, as a request that is not a page view
    assert (asset["event"], asset["asset"], asset["url"]) == ("request", True, "/static/app.js")
    # a POST answered with a redirect is not a page view either
    assert (last["event"], last["method"], last["status"]) == ("request", "POST", 302)
    assert last["referrer"] is None  # "-" is null
    assert last["user_agent"] == 'python-requests/2.31 "quoted"'  # \x22 decoded
    report = stream.reports[0]
    assert (report.rows_ok, report.rows_bad, report.rows_skipped) == (3, 0, 0)


@pytest.mark.parametrize(
    ("request_line", "status", "event"),
    [
        ("GET / HTTP/1.1", "200", "pageview"),
        ("GET /a?b=1 HTTP/1.1", "304", "pageview"),  # a cached page is still seen
        ("GET /a HTTP/1.1", "404", "request"),
        ("GET /a HTTP/1.1", "301", "request"),  # the redirect's target is the page view
        ("GET /a HTTP/1.1", "500", "request"),
        ("HEAD / HTTP/1.1", "200", "request"),
        ("POST /storage/save.php HTTP/1.1", "200", "request"),
        ("GET /robots.txt HTTP/1.1", "200", "request"),
        ("GET /img/Logo.PNG?v=2 HTTP/1.1", "200", "request"),
        ("CONNECT github.com:443 HTTP/1.1", "200", "request"),
        ("\\x16\\x03\\x01", "400", "request"),  # a TLS hello sent to the HTTP port
        # a download or a document is no page: nobody is shown the site by it
        ("GET /files/Report.PDF HTTP/1.1", "200", "request"),
        ("GET /dl/app.apk?ch=7 HTTP/1.1", "200", "request"),
        ("GET /src/tool-1.2.tar.gz HTTP/1.1", "200", "request"),
        ("GET /feed.xml HTTP/1.1", "200", "request"),
        ("GET /code/setup.py HTTP/1.1", "200", "request"),
        ("GET /index.html HTTP/1.1", "200", "pageview"),
        ("GET /news.php?id=1 HTTP/1.1", "200", "pageview"),
        ("GET /cgi-bin/board.pl HTTP/1.1", "200", "pageview"),  # Perl pages, not a text file
        ("GET /go/example.ai HTTP/1.1", "200", "pageview"),  # a domain in a path, not a file
    ],
)
def test_only_a_successful_get_of_a_page_is_a_page_view(write, request_line, status, event):
    line = f'192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "{request_line}" {status} 12 "-" "UA"\n'
    table, _ = read_table(write("one.log", line), fmt="nginx")
    [row] = table.to_pylist()
    assert row["event"] == event
    assert row["status"] == int(status)


def test_custom_log_format(write):
    path = write("custom.log", CUSTOM_LINE)
    table, stream = read_table(path, fmt="nginx", log_format=CUSTOM)
    [row] = table.to_pylist()
    assert row["event_id"] == "req-77"
    assert row["ts"] == datetime(2024, 3, 1, 4, tzinfo=UTC)
    assert row["ip"] == "203.0.113.5"  # first X-Forwarded-For address
    assert row["url"] == "http://shop.example/p/1?x=2"
    assert row["user_agent"] == 'Mozilla/5.0 "quoted"'
    assert row["visitor_id"] == "abc123"
    assert "log_format variables not used: $upstream_time" in stream.reports[0].notes
    assert row["status"] == 200


def test_msec_and_scheme_and_http_cookie(write):
    fmt = '$msec $scheme $http_host "$request" "$http_cookie"'
    line = '1709294400.250 https a.example "GET / HTTP/1.1" "theme=dark; _ga=GA1.2.3"\n'
    table, _ = read_table(write("m.log", line), fmt="nginx", log_format=fmt)
    [row] = table.to_pylist()
    assert row["ts"] == datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert row["url"] == "https://a.example/"
    assert row["visitor_id"] == "GA1.2.3"


def test_non_matching_and_bad_time_lines(write):
    good = DATA.joinpath("access.log").read_text().splitlines()[0]
    bad_time = good.replace("10/Oct/2023:13:55:36 -0700", "99/Foo/2023:13:55:36 -0700")
    path = write("a.log", f"{good}\nthis is not a log line\n{bad_time}\n{good[:40]}\n{good}\n")
    table, stream = read_table(path, fmt="nginx")
    assert table.column("event_id").to_pylist() == ["a.log:1", "a.log:5"]
    errors = stream.reports[0].errors
    assert [(e.line, e.field) for e in errors] == [(2, None), (3, "ts"), (4, None)]
    assert errors[0].message == (
        "does not match log_format combined; it begins 'this is not a log line'"
    )
    assert "expected $time_local as 10/Oct/2000:13:55:36 -0700" in errors[1].message
    with pytest.raises(TooManyBadRows, match=r"a\.log:2: does not match"):
        read_table(path, fmt="nginx", strict=True)


def test_bad_request_line_keeps_event_without_url(write):
    line = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"\n'
    table, _ = read_table(write("tls.log", line), fmt="nginx")
    assert table.to_pylist()[0]["url"] is None


def test_binary_log(write):
    with pytest.raises(InputError, match="binary file"):
        read_table(write("b.log", b"\x00\x00\x00\x01"), fmt="nginx")


def test_bad_log_formats():
    with pytest.raises(ConfigError, match="no time variable"):
        compile_format("$remote_addr $request")
    with pytest.raises(ConfigError, match="no \\$variables"):
        compile_format("just text")


def test_normalize_nginx_conf_line():
    conf = """log_format main escape=json '$remote_addr [$time_local] '
                      '"$request" $status';"""
    assert normalize(conf) == '$remote_addr [$time_local] "$request" $status'
    assert compile_format(conf).regex.match('1.2.3.4 [10/Oct/2023:13:55:36 +0000] "GET / H" 200')


def test_main_preset_matches_its_line():
    line = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "UA" "9.9.9.9"'
    m = compile_format("main").regex.match(line)
    assert m and m.group("http_x_forwarded_for") == "9.9.9.9"
    # combined, the default, reads the stock `main`'s lines too (nginx.conf's default), but not
    # its forwarded address: a client writes what it likes there unless the site's own proxy did
    m = compile_format("combined").regex.match(line)
    assert m and m.group("http_user_agent") == "UA" and m.group("remote_addr") == "1.2.3.4"
    assert "http_x_forwarded_for" not in m.groupdict()
    assert compile_format(None).regex.match(line)
    assert compile_format("combined").regex.match(line[: line.rindex(' "')] + " 0.123") is None
    m = compile_format("combined").regex.match(line[: line.rindex(' "')])
    assert m and m.group("http_user_agent") == "UA"


def test_parse_time_local_offsets():
    got = parse_time_local("01/Feb/2024:03:04:05 +0530")
    assert got == datetime(2024, 2, 1, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert parse_time_local("01/Feb/2024:03:04:05 +0000").tzinfo is UTC
    with pytest.raises(ValueError):
        parse_time_local("01/Feb/2024 03:04:05")


@given(st.text())
def test_escape_round_trip(text):
    assert decode_escapes(nginx_escape(text)) == text


@given(st.text(alphabet=st.characters(blacklist_characters='"\\', blacklist_categories=("Cs",))))
def test_quoted_field_round_trip(text):
    fmt = compile_format('$remote_addr [$time_local] "$http_user_agent"')
    line = f'1.2.3.4 [10/Oct/2023:13:55:36 +0000] "{nginx_escape(text)}"'
    m = fmt.regex.match(line)
    assert m is not None
    assert decode_escapes(m.group("http_user_agent")) == text


@given(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200)
)
def test_any_line_never_crashes_the_reader(tmp_path_factory, line):
    good = '1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "UA"'
    path = tmp_path_factory.mktemp("nginx") / "p.log"
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    table, stream = read_table(path, fmt="nginx")
    report = stream.reports[0]
    assert table.column("event_id").to_pylist()[0] == "p.log:1"
    assert report.rows_ok + report.rows_bad + report.rows_skipped >= 1


def test_an_x_forwarded_for_that_is_not_an_address_falls_back_to_the_peer(write):
    fmt = '$remote_addr [$time_local] "$request" $status "$http_x_forwarded_for"'
    line = '198.51.100.4 [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200 "unknown, 10.0.0.1"\n'
    table, _ = read_table(write("x.log", line), fmt="nginx", log_format=fmt)
    assert table.column("ip").to_pylist() == ["198.51.100.4"]


def test_no_page_suffix_is_taken_for_a_file():
    """The fixed list of file suffixes never holds a page's (a list read from Python's type
    table would: 3.14 names .php) nor an asset's, and is the same on every machine."""
    from qinglang.ingest.nginx import FILE_EXTENSIONS, STATIC_EXTENSIONS

    pages = (".php", ".asp", ".aspx", ".jsp", ".jspx", ".do", ".action", ".cgi", ".pl", ".cfm",
             ".shtml", ".htm", ".html", ".xhtml", ".jhtml", ".md")  # fmt: skip
    assert not set(pages) & set(FILE_EXTENSIONS)
    assert not set(STATIC_EXTENSIONS) & set(FILE_EXTENSIONS)
    assert all(e == e.lower() and e.startswith(".") for e in FILE_EXTENSIONS)
    assert all(len(e) >= 4 or e in (".py", ".sh", ".gz", ".xz", ".7z") for e in FILE_EXTENSIONS)
