"""Registered sites: name, allowed origins and a secret, in one SQLite file (`--db`).

The lake and the segment log live next to that file: ``<db>.lake/site=NAME/*.parquet`` and
``<db>.segments/``. The secret signs the site's page tokens and salts its hashes; it never leaves
the collector.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from qinglang.errors import ConfigError, InputError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class Site:
    name: str
    origins: tuple[str, ...]
    secret: bytes


def normalize_origin(origin: str) -> str:
    """`https://Shop.Example:443/path` -> `https://shop.example`; raises ConfigError if not an origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--origin {origin!r}: expected http(s)://host[:port]")
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--origin {origin!r}: bad port") from None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def lake_dir(db: Path) -> Path:
    return db.with_name(db.name + ".lake")


def segments_dir(db: Path) -> Path:
    return db.with_name(db.name + ".segments")


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_collector_db(db: Path) -> bool:
    """Whether `db` is a database `qinglang site add` (or `serve --create`) made: SQLite, with
    the `sites` table."""
    try:
        with open(db, "rb") as f:
            if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                return False
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
            found = c.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sites'"
            ).fetchone()
    except (OSError, sqlite3.Error):
        return False
    return found is not None


def open_collector_db(db: Path, create: bool = False) -> SiteRegistry:
    """The collector's database, for `serve`: a path that does not exist is refused unless
    `create` (a typo would otherwise start an empty collector that answers 404 to every site),
    and so is a file that is not a collector database."""
    db = Path(db)
    if not db.exists():
        if not create:
            raise InputError(
                str(db),
                "no such collector database: register a site first (qinglang site add NAME "
                "--origin URL --db DB), or give --create to start an empty one",
                usage=True,
            )
    elif not is_collector_db(db):
        raise InputError(
            str(db),
            "not a qinglang collector database (one that `qinglang site add` made)",
            usage=True,
        )
    return SiteRegistry(db)


class SiteRegistry:
    def __init__(self, db: Path) -> None:
        self.db = Path(db)
        self.db.parent.mkdir(parents=True, exist_ok=True)
        if self.db.exists() and self.db.stat().st_size and not is_collector_db(self.db):
            raise InputError(
                str(self.db),
                "not a qinglang collector database (one that `qinglang site add` made)",
                usage=True,
            )
        with self._conn() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS sites (name TEXT PRIMARY KEY, origins TEXT NOT NULL, "
                "secret BLOB NOT NULL, created REAL NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.db)
        except sqlite3.Error as e:
            raise ConfigError(f"--db {self.db}: {e}") from None

    def add(self, name: str, origins: list[str]) -> Site:
        if not NAME_RE.match(name):
            raise ConfigError(f"site name {name!r}: expected 1-63 of a-z 0-9 . _ - (lower case)")
        if not origins:
            raise ConfigError("site add: give at least one --origin")
        norm = tuple(dict.fromkeys(normalize_origin(o) for o in origins))
        site = Site(name, norm, secrets.token_bytes(32))
        with self._conn() as c:
            try:
                c.execute(
                    "INSERT INTO sites VALUES (?, ?, ?, ?)",
                    (name, " ".join(norm), site.secret, time.time()),
                )
            except sqlite3.IntegrityError:
                raise ConfigError(f"site {name!r} already exists in {self.db}") from None
        return site

    def get(self, name: str) -> Site | None:
        with self._conn() as c:
            row = c.execute("SELECT origins, secret FROM sites WHERE name = ?", (name,)).fetchone()
        return Site(name, tuple(row[0].split()), bytes(row[1])) if row else None

    def all(self) -> dict[str, Site]:
        with self._conn() as c:
            rows = c.execute("SELECT name, origins, secret FROM sites").fetchall()
        return {n: Site(n, tuple(o.split()), bytes(s)) for n, o, s in rows}


def snippet(collector_url: str, site: str) -> str:
    """The HTML a site owner pastes into every page (before </body>)."""
    base = collector_url.rstrip("/")
    return f'<script async src="{base}/t.js?site={site}"></script>'
