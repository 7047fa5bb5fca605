"""The dashboard's commands: `qinglang ui` and `qinglang user add|passwd|grant|revoke|token|remove`."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from qinglang import __version__
from qinglang.cli.common import app, console, fail, out
from qinglang.errors import ConfigError, QinglangError

DB_HELP = "The collector's database file (sites, users; the lake and audits live beside it)"
user_app = typer.Typer(help="Dashboard users, their roles on sites, their API tokens.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(user_app, name="user")


@app.command()
def ui(
    audit_dir: Annotated[
        Path | None,
        typer.Argument(help="Open this directory of audits read-only instead (loopback only)"),
    ] = None,
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8090,
    audit_every: Annotated[
        str | None, typer.Option(help="Audit each site's lake this often, e.g. 1h (30m, 1d)")
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="Also answer requests for this Host name (the name a proxy passes)"),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Take the client address and scheme from X-Forwarded-For/-Proto when the peer "
            "is one of these (comma-separated, e.g. 127.0.0.1: your proxy); off by default"
        ),
    ] = None,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Secure cookies (HTTPS only); default: on unless --host is loopback. "
            "Say --secure-cookies behind an HTTPS proxy",
        ),
    ] = None,
) -> None:
    """Run the dashboard and its JSON API beside the collector (same --db). Ctrl-C stops it."""
    import uvicorn

    from qinglang.collect.sites import open_collector_db
    from qinglang.web.app import UiConfig, allowed_hosts_for, build_app, is_loopback
    from qinglang.web.schedule import Scheduler, parse_every

    scheduler = None
    try:
        if not 0 < port < 65536:
            raise ConfigError(f"--port {port}: expected 1-65535")
        every = parse_every(audit_every) if audit_every else None
        if audit_dir is not None:
            if not audit_dir.is_dir():
                raise ConfigError(f"AUDIT_DIR {audit_dir}: no such directory")
            if not is_loopback(host):
                raise ConfigError(
                    f"--host {host}: a directory of audits opens without accounts, so on "
                    "loopback only (127.0.0.1); to share audits, serve a collector --db"
                )
            if every:
                raise ConfigError("--audit-every: only with a collector --db, not AUDIT_DIR")
            cfg = UiConfig(readonly_dir=audit_dir.resolve())
        else:
            open_collector_db(db)
            cfg = UiConfig(
                db=db.resolve(),
                secure_cookies=(not is_loopback(host))
                if secure_cookies is None
                else secure_cookies,
                allowed_hosts=allowed_hosts_for(host, allow_host or []),
            )
        web = build_app(cfg)
        if every and web.state.runner is not None:
            scheduler = Scheduler(cfg.db, web.state.runner, every)  # type: ignore[arg-type]
            scheduler.start()
    except QinglangError as exc:
        fail(exc)
        return
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    what = (
        f"audits in {audit_dir.resolve()} (read-only)" if audit_dir else f"database {db.resolve()}"
    )
    console.print(
        f"qinglang {__version__} dashboard on http://{where}\n  {what}"
        + (f"\n  audits every {audit_every}" if every else "")
        + ("\n  cookies are Secure: put it behind HTTPS" if web.state.cfg.secure_cookies else "")
        + "\nCtrl-C stops it.",
        markup=False,
        highlight=False,
    )
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False,
                    server_header=False, proxy_headers=forwarded_allow_ips is not None,
                    forwarded_allow_ips=forwarded_allow_ips or "")  # fmt: skip
    except KeyboardInterrupt:
        pass
    finally:
        if scheduler is not None:
            scheduler.stop()
        if web.state.runner is not None:
            web.state.runner.shutdown()
    console.print("dashboard stopped", highlight=False)


def _password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("password: no terminal to type it at; pipe it with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("password: the two entries differ")
    return first


def _accounts(db: Path):  # type: ignore[no-untyped-def]
    from qinglang.collect.sites import open_collector_db
    from qinglang.web.accounts import Accounts

    open_collector_db(db)
    return Accounts(db)


STDIN_HELP = "Read the password from the first line of standard input"


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=STDIN_HELP)] = False,
) -> None:
    """Add a dashboard user (the password is typed, or piped with --password-stdin)."""
    try:
        accounts = _accounts(db)
        accounts.add_user(name, _password(password_stdin))
    except QinglangError as exc:
        fail(exc)
    console.print(f"user {name} added; give them a site: qinglang user grant {name} SITE ROLE",
                  markup=False, highlight=False)  # fmt: skip


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="User name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help=STDIN_HELP)] = False,
) -> None:
    """Set a user's password (their open sessions end and their API tokens are revoked)."""
    try:
        _accounts(db).set_password(name, _password(password_stdin))
    except QinglangError as exc:
        fail(exc)
    console.print(f"password of {name} changed", markup=False, highlight=False)


@user_app.command("grant")
def user_grant(
    name: Annotated[str, typer.Argument(help="User name")],
    site: Annotated[str, typer.Argument(help="Site name (qinglang site add)")],
    role: Annotated[str, typer.Argument(help="owner, buyer, seller or auditor")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
) -> None:
    """Give a user a role on a site (replaces the role they had there)."""
    from qinglang.collect.sites import SiteRegistry

    try:
        accounts = _accounts(db)
        if SiteRegistry(db).get(site) is None:
            raise ConfigError(f"site {site!r}: not registered in {db} (qinglang site add)")
        accounts.grant(name, site, role)
    except QinglangError as exc:
        fail(exc)
    console.print(f"{name} is {role} of {site}", markup=False, highlight=False)


@user_app.command("revoke")
def user_revoke(
    name: Annotated[str, typer.Argument(help="User name")],
    site: Annotated[str, typer.Argument(help="Site name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
) -> None:
    """Take a user's role on a site away."""
    try:
        _accounts(db).revoke(name, site)
    except QinglangError as exc:
        fail(exc)
    console.print(f"{name} has no role on {site}", markup=False, highlight=False)


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="User name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
    list_: Annotated[bool, typer.Option("--list", help="List their tokens (id, created)")] = False,
    revoke: Annotated[int | None, typer.Option(help="Revoke their token with this id")] = None,
) -> None:
    """Make a new API token for a user and print it, once (only its hash is kept); or list or
    revoke their tokens. `user passwd` revokes all of a user's tokens."""
    import datetime as dt

    try:
        accounts = _accounts(db)
        if list_:
            for token_id, created in accounts.tokens(name):
                when = dt.datetime.fromtimestamp(created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                out.print(f"{token_id}  {when}", markup=False, highlight=False)
            return
        if revoke is not None:
            accounts.revoke_token(name, revoke)
            console.print(f"token {revoke} of {name} revoked", markup=False, highlight=False)
            return
        token = accounts.new_token(name)
    except QinglangError as exc:
        fail(exc)
    out.print(token, markup=False, highlight=False)
    console.print("keep it: it is not shown again (send it as Authorization: Bearer TOKEN)",
                  markup=False, highlight=False)  # fmt: skip


@user_app.command("remove")
def user_remove(
    name: Annotated[str, typer.Argument(help="User name")],
    db: Annotated[Path, typer.Option(help=DB_HELP)] = Path("qinglang.db"),
) -> None:
    """Remove a user: their roles, tokens and open sessions end."""
    try:
        _accounts(db).remove_user(name)
    except QinglangError as exc:
        fail(exc)
    console.print(f"user {name} removed", markup=False, highlight=False)
