"""Users, their grants on sites and their API tokens, in the collector's SQLite database.

Tables (created if missing, so an existing collector database gains them untouched):
``web_users`` (name, argon2 hash, a generation bumped by every password change, which ends the
user's sessions), ``web_grants`` (user, site, role), ``web_tokens`` (the SHA-256 of each API
token, never the token; a password change deletes the user's tokens), ``web_ended`` (the ids of
sessions ended by signing out, until their cookies expire) and ``web_meta`` (the key that signs session cookies).

Roles: ``owner`` manages a site and its users; ``buyer`` and ``seller`` see a site's figures and
audits and run audits; ``auditor`` sees the figures and audits of each site it is granted, and
changes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from qinglang.errors import ConfigError

ROLES = ("owner", "buyer", "seller", "auditor")
RUNS_AUDITS = frozenset({"owner", "buyer", "seller"})  # the auditor only reads
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps a hostile login cheap
TOKEN_PREFIX = "qlt_"

_hasher = PasswordHasher()  # argon2id, the library's current defaults
_DUMMY = _hasher.hash("qinglang-no-such-user")  # an unknown name costs what a wrong password does

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS web_users (name TEXT PRIMARY KEY, hash TEXT NOT NULL, "
    "generation INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS web_grants (user TEXT NOT NULL, site TEXT NOT NULL, "
    "role TEXT NOT NULL, PRIMARY KEY (user, site))",
    "CREATE TABLE IF NOT EXISTS web_tokens (digest TEXT PRIMARY KEY, user TEXT NOT NULL, "
    "created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS web_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS web_ended (sid TEXT PRIMARY KEY, until REAL NOT NULL)",
)


@dataclass(frozen=True)
class User:
    name: str
    generation: int
    grants: dict[str, str]  # site -> role

    def role_on(self, site: str) -> str | None:
        return self.grants.get(site)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters, please")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(f"password: at most {MAX_PASSWORD} characters")
    return password


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Accounts:
    """The account tables of one database file."""

    def __init__(self, db: Path) -> None:
        self.db = Path(db)
        with self._conn() as c:
            for statement in SCHEMA:
                c.execute(statement)

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.db, timeout=10)
        except sqlite3.Error as e:
            raise ConfigError(f"--db {self.db}: {e}") from None
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    # -- users
    def add_user(self, name: str, password: str) -> None:
        if not USER_RE.match(name):
            raise ConfigError(f"user name {name!r}: expected 1-64 of A-Z a-z 0-9 . _ @ -")
        digest = _hasher.hash(check_password(password))
        with self._conn() as c:
            try:
                c.execute("INSERT INTO web_users VALUES (?, ?, 0, ?)", (name, digest, time.time()))
            except sqlite3.IntegrityError:
                raise ConfigError(f"user {name!r} already exists") from None

    def set_password(self, name: str, password: str) -> None:
        digest = _hasher.hash(check_password(password))
        with self._conn() as c:
            n = c.execute(
                "UPDATE web_users SET hash = ?, generation = generation + 1 WHERE name = ?",
                (digest, name),
            ).rowcount
            c.execute(
                "DELETE FROM web_tokens WHERE user = ?", (name,)
            )  # a new password: new tokens
        if not n:
            raise ConfigError(f"no user {name!r} (qinglang user add NAME)")

    def verify(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs; None otherwise, in about the same time."""
        if len(password) > MAX_PASSWORD:
            return None
        with self._conn() as c:
            row = c.execute("SELECT hash FROM web_users WHERE name = ?", (name,)).fetchone()
        try:
            _hasher.verify(row[0] if row else _DUMMY, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return self.user(name) if row else None

    def remove_user(self, name: str) -> None:
        """The user, their grants and their tokens, gone (their sessions end with them)."""
        with self._conn() as c:
            n = c.execute("DELETE FROM web_users WHERE name = ?", (name,)).rowcount
            c.execute("DELETE FROM web_grants WHERE user = ?", (name,))
            c.execute("DELETE FROM web_tokens WHERE user = ?", (name,))
        if not n:
            raise ConfigError(f"no user {name!r}")

    def user(self, name: str) -> User | None:
        with self._conn() as c:
            row = c.execute("SELECT generation FROM web_users WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            grants = dict(
                c.execute("SELECT site, role FROM web_grants WHERE user = ?", (name,)).fetchall()
            )
        return User(name, int(row[0]), grants)

    def users_of(self, site: str) -> list[tuple[str, str]]:
        with self._conn() as c:
            return c.execute(
                "SELECT user, role FROM web_grants WHERE site = ? ORDER BY user", (site,)
            ).fetchall()

    # -- grants
    def grant(self, name: str, site: str, role: str) -> None:
        if role not in ROLES:
            raise ConfigError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if self.user(name) is None:
            raise ConfigError(f"no user {name!r} (qinglang user add NAME)")
        with self._conn() as c:
            c.execute(
                "INSERT INTO web_grants VALUES (?, ?, ?) ON CONFLICT (user, site) "
                "DO UPDATE SET role = excluded.role",
                (name, site, role),
            )

    def revoke(self, name: str, site: str) -> None:
        with self._conn() as c:
            c.execute("DELETE FROM web_grants WHERE user = ? AND site = ?", (name, site))

    # -- API tokens
    def new_token(self, name: str) -> str:
        if self.user(name) is None:
            raise ConfigError(f"no user {name!r} (qinglang user add NAME)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._conn() as c:
            c.execute(
                "INSERT INTO web_tokens VALUES (?, ?, ?)", (token_digest(token), name, time.time())
            )
        return token

    def tokens(self, name: str) -> list[tuple[int, float]]:
        """The user's tokens as (id, created), oldest first."""
        if self.user(name) is None:
            raise ConfigError(f"no user {name!r} (qinglang user add NAME)")
        with self._conn() as c:
            rows = c.execute(
                "SELECT rowid, created FROM web_tokens WHERE user = ? ORDER BY rowid", (name,)
            ).fetchall()
        return [(int(i), float(t)) for i, t in rows]

    def revoke_token(self, name: str, token_id: int) -> None:
        with self._conn() as c:
            n = c.execute(
                "DELETE FROM web_tokens WHERE rowid = ? AND user = ?", (token_id, name)
            ).rowcount
        if not n:
            raise ConfigError(f"--revoke {token_id}: {name!r} has no such token (see --list)")

    def token_user(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        digest = token_digest(token)
        with self._conn() as c:
            row = c.execute("SELECT digest, user FROM web_tokens WHERE digest = ?", (digest,))
            found = row.fetchone()
        if found is None or not hmac.compare_digest(found[0], digest):
            return None
        return self.user(found[1])

    # -- sessions ended by signing out (a copy of the cookie must not outlive it)
    def end_session(self, sid: str, until: float) -> None:
        """Refuse session `sid` from now on; kept until `until`, when its cookie expires anyway."""
        now = time.time()
        with self._conn() as c:
            c.execute("DELETE FROM web_ended WHERE until < ?", (now,))
            c.execute("INSERT OR REPLACE INTO web_ended VALUES (?, ?)", (sid, until))

    def session_ended(self, sid: str) -> bool:
        with self._conn() as c:
            return c.execute("SELECT 1 FROM web_ended WHERE sid = ?", (sid,)).fetchone() is not None

    # -- the key that signs session cookies
    def session_key(self) -> str:
        with self._conn() as c:
            c.execute(
                "INSERT OR IGNORE INTO web_meta VALUES ('session_key', ?)",
                (secrets.token_hex(32).encode(),),
            )
            row = c.execute("SELECT value FROM web_meta WHERE key = 'session_key'").fetchone()
        return bytes(row[0]).decode()
