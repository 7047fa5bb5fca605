"""sivt.automation in server logs: sessions that ask for what no site shows its visitors.

A vulnerability scanner walks the internet asking every site for its secrets: ``/.env``,
``/.git/config``, ``wp-config.php``, an SSH key. Where the site answers ``200`` (a catch-all
route, a single-page app that serves its index for every path) the request is logged like a
page view, and the scanner's ``GET /`` in the same visit is paid. No page links to these files
and no person types them, so one such request says what the whole session is:

* path.restricted_file - the session asked for a file or directory on OWASP CRS's list of
  restricted files (rule 930130: ``.env``, ``.git/``, ``.htaccess``, ``wp-config.php``,
  ``.ssh/id_rsa``, ``composer.json``...), or for a vulnerability scanner's marker path (rule
  913120: ``/nessustest``, ``acunetix-wvs-test``, ``w00tw00t.at.ISC.SANS``...).

The lists are CRS's own (``qinglang/data/crs/``, Apache-2.0, with their source and hashes),
read as they are. CRS matches a list's phrases anywhere in the path, which suits a firewall; an
audit that withholds payment matches a phrase only as whole path segments: the file must be the
path's last segment (``/.env``, ``/blog/.env``, not ``/blog/dotenv-tips`` nor
``/posts/my-dockerfile``), a directory (an entry ending in ``/``) any segment
(``/.git/config``). The scanners' marker paths, distinctive strings, match anywhere in the URL.

Every event of the session gets the finding (score 0.95): the ``GET /`` a scanner opens with is
where the money is. Case-insensitive, as CRS applies it (``t:lowercase``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from qinglang.detect.base import Check, Context, Findings
from qinglang.engine import sql_string
from qinglang.features.sessions import materialize_sessions

NAME = "probes"
CATEGORY = "sivt.automation"
CHECKS = (Check("path.restricted_file", ("url",)),)
SCORE = 0.95


def _escape(text: str) -> str:
    """`text` as a literal in RE2 and Python ``re`` alike (``re.escape`` escapes spaces, which
    RE2 refuses)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _entries(name: str) -> list[str]:
    text = resources.files("qinglang.data.crs").joinpath(name).read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@lru_cache(maxsize=1)
def probe_pattern() -> str:
    """One RE2 (and Python ``re``) pattern over a lower-cased URL for both lists."""
    files, directories = [], []
    for entry in _entries("restricted-files.data"):
        core = _escape(entry.lower().lstrip("/"))
        (directories if entry.endswith("/") else files).append(core)
    markers = [_escape(entry.lower()) for entry in _entries("scanners-urls.data")]
    # (the marker list's own entries that start with "/" name a whole first segment; the rest
    # are phrases a scanner puts anywhere in its request)
    return f"(^|/)({'|'.join(files)})($|[?#])|(^|/)({'|'.join(directories)})|({'|'.join(markers)})"


def probe_sql(column: str) -> str:
    """True where `column` (a URL or path) asks for a restricted file or a scanner's marker."""
    return f"regexp_matches(lower({column}), {sql_string(probe_pattern())})"


def detect(ctx: Context) -> Findings:
    run, findings = ctx.plan(CHECKS)
    if not run:
        return findings
    materialize_sessions(ctx)
    ctx.engine.materialize(
        "probe_sessions",
        "SELECT DISTINCT m.skey, m.sno FROM events e JOIN session_map m ON m.rid = e.rid "
        f"WHERE e.url IS NOT NULL AND {probe_sql('e.url')}",
    )
    findings.queries.append(
        f"SELECT m.rid, 'path.restricted_file' AS reason, {SCORE} AS score "
        "FROM probe_sessions p JOIN session_map m ON m.skey = p.skey AND m.sno = p.sno"
    )
    return findings
