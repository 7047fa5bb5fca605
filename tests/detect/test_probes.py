"""path.restricted_file: a session that asks for a site's secrets (OWASP CRS's lists) is a
scanner's, every event of it; a page whose path merely mentions such a name is not."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources

import duckdb
import pytest
from typer.testing import CliRunner

from qinglang.cli import app
from qinglang.detect.probes import _entries, probe_pattern

PROBES = ["/.env", "/api/.env", "/blog/.env?x=1", "/.env.local", "/.env.production", "/.git",
          "/.git/config", "/a/.git/HEAD", "/.GIT/config", "http://shop.example/.env",
          "/wp-config.php", "/wp-config.php.bak", "/wp-config.php~", "/.htaccess", "/.ssh/id_rsa",
          "/Dockerfile", "/config/parameters.yml", "/nessustest", "/arachni-12345",
          "/w00tw00t.at.ISC.SANS.DFind:)"]  # fmt: skip
# pages that merely mention such a name: in a slug, a query, a fragment, below the root
PAGES = ["/", "/index.html", "/blog/dotenv-tips", "/posts/my-dockerfile", "/tags/dockerfile",
         "/wiki/Dockerfile?action=edit", "/npm/lodash@4/package.json", "/docs/composer.json",
         "/static/package.json.map", "/.well-known/acme-challenge/x", "/a/env", "/git/config",
         "/environment", "/.environment", "/blog/ssh-keys?id_rsa=1", "/search?q=/.env",
         "/login?next=/.profile", "/p/123?utm_source=x#/.env", "/games/cybercop-2",
         "/cybercop-2", "/words/antidisestablishmentarianism", "/blog/arachni-scanner-review"]  # fmt: skip


def test_the_bundled_lists_are_crs_own():
    source = resources.files("qinglang.data.crs").joinpath("SOURCE.md").read_text("utf-8")
    for name in ("restricted-files.data", "scanners-urls.data"):
        data = resources.files("qinglang.data.crs").joinpath(name).read_bytes()
        assert f"{hashlib.sha256(data).hexdigest()}  {name}" in source
    assert len(_entries("restricted-files.data")) > 100 and "/.env" in _entries(
        "restricted-files.data"
    )


@pytest.mark.parametrize("url", PROBES)
def test_probes_match_in_python_and_in_duckdb(url):
    pattern = probe_pattern()
    assert re.search(pattern, url.lower())
    assert duckdb.execute("SELECT regexp_matches(lower(?), ?)", [url, pattern]).fetchall()[0][0]


@pytest.mark.parametrize("url", PAGES)
def test_pages_that_mention_such_names_do_not(url):
    pattern = probe_pattern()
    assert not re.search(pattern, url.lower())
    assert not duckdb.execute("SELECT regexp_matches(lower(?), ?)", [url, pattern]).fetchall()[0][0]


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36"
)


def _line(ip: str, second: int, path: str, status: int, ua: str = CHROME, ref: str = "-") -> str:
    return (
        f'{ip} - - [19/Jan/2025:01:13:{second:02d} +0700] "GET {path} HTTP/1.1" {status} 2623 '
        f'"{ref}" "{ua}"'
    )


def test_a_scanner_s_home_page_is_charged_with_its_probes(tmp_path):
    lines = [
        # a scanner: the home page, then secrets a catch-all route answers 200
        _line("45.156.129.131", 1, "/", 200),
        _line("45.156.129.131", 2, "/.env", 200),
        _line("45.156.129.131", 3, "/.git/config", 200),
        # a person: a page, its stylesheet, a second page by a link, one about dotenv
        _line("117.136.1.1", 10, "/", 200),
        _line("117.136.1.1", 11, "/site.css", 200, ref="http://shop.example/"),
        _line("117.136.1.1", 30, "/blog/dotenv-tips", 200, ref="http://shop.example/"),
        _line("117.136.1.1", 31, "/site.css", 200, ref="http://shop.example/blog/dotenv-tips"),
    ]
    src = tmp_path / "access.log"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["audit", str(src), "--format", "nginx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    labels = duckdb.sql(
        f"SELECT event_id, verdict, category, reasons FROM '{out / 'labels.parquet'}' "
        "ORDER BY event_id"
    ).fetchall()
    by_line = {int(e.rsplit(":", 1)[1]): (v, c, r) for e, v, c, r in labels}
    for n in (1, 2, 3):
        verdict, category, reasons = by_line[n]  # (the category: the first by priority)
        assert verdict == "invalid" and "path.restricted_file" in reasons
    for n in (4, 5, 6, 7):
        assert "path.restricted_file" not in by_line[n][2]
    facts = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert facts["totals"]["uv"] == 2 and facts["totals"]["invalid_uv"] >= 1
