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
read as they are. CRS matches a list's phrases anywhere in the request, which suits a firewall;
an audit that withholds payment matches only the path (never the query: ``?next=/.profile`` is
a login page), and a name only as whole segments where that software keeps it (see
:func:`probe_pattern`): ``/blog/dotenv-tips`` and ``/tags/dockerfile`` are pages. A code host's
page named after one of the dotfiles (``/blob/main/.gitignore``) is charged like a probe.

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


# How a URL's path is reached: its origin (absolute URLs), then the path up to its query
ORIGIN = r"^(?:[a-z][a-z0-9+.\-]*://[^/?#]*)?"
ANY_DIR = r"^[^?#]*/"  # any directory of the path (the query and fragment never count)
END = r"(?:[?#]|$)"
BACKUP = r"(?:[.~][a-z0-9_.~\-]*)?"  # an editor's or admin's copy: .env.local, wp-config.php~


def _alternatives(entries: list[str]) -> str:
    return "(?:" + "|".join(_escape(e) for e in entries) + ")"


@lru_cache(maxsize=1)
def probe_pattern() -> str:
    """One RE2 (and Python ``re``, and Java) pattern over a lower-cased URL for both lists.

    A dotfile (``.env``, ``.git/``, ``.ssh/id_rsa``) is matched at the end of the path in any
    directory (scanners try ``/api/.env`` as well as ``/.env``), with a backup's suffix or none;
    any other file of the list (``wp-config.php``, ``composer.json``, ``Dockerfile``) only at the
    site's root, where the software that has it keeps it: ``/tags/dockerfile`` is a page. A
    directory matches as a whole segment. The scanners' marker paths match at the root (as a
    prefix where CRS's entry ends in ``-`` or ``_``, which scanners follow with a random part);
    the two markers CRS lists without a slash anywhere in the path."""
    anywhere_files, anywhere_dirs, root_files, root_dirs = [], [], [], []
    for entry in _entries("restricted-files.data"):
        core = entry.lower().lstrip("/")
        directory = core.endswith("/")
        core = core.rstrip("/")
        if core.startswith("."):
            (anywhere_dirs if directory else anywhere_files).append(core)
        else:
            (root_dirs if directory else root_files).append(core)
    exact, prefix, inside = [], [], []
    for entry in _entries("scanners-urls.data"):
        marker = entry.lower()
        if not marker.startswith("/"):
            inside.append(marker)
        elif marker[-1].isalnum():
            exact.append(marker[1:])
        else:
            prefix.append(marker[1:])
    parts = [
        ANY_DIR + _alternatives(anywhere_files) + BACKUP + END,
        ANY_DIR + _alternatives(anywhere_dirs) + r"(?:/|[?#]|$)",
        ORIGIN + "/" + _alternatives(root_files) + BACKUP + END,
        ORIGIN + "/" + _alternatives(root_dirs) + r"(?:/|[?#]|$)",
        ORIGIN + "/" + _alternatives(exact) + r"(?:/|[?#]|$)",
        ORIGIN + "/" + _alternatives(prefix),
        r"^[^?#]*" + _alternatives(inside),
    ]
    return "|".join(f"(?:{p})" for p in parts)


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
        # (a static asset is no probe: most of a log's lines skip the regex)
        "SELECT DISTINCT m.skey, m.sno FROM events e JOIN session_map m ON m.rid = e.rid "
        f"WHERE e.url IS NOT NULL AND NOT coalesce(e.asset, FALSE) AND {probe_sql('e.url')}",
    )
    findings.queries.append(
        f"SELECT m.rid, 'path.restricted_file' AS reason, {SCORE} AS score "
        "FROM probe_sessions p JOIN session_map m ON m.skey = p.skey AND m.sno = p.sno"
    )
    return findings
