"""The dashboard's Starlette app: state, middleware, routes. `qinglang ui` serves it (cli/ui.py).

Two modes: a collector database (`db`: accounts, sites, the lake, audits run and scheduled
here), or a directory of audits opened read-only (`readonly_dir`: one pseudo-site, no accounts,
served on loopback only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from qinglang.audit.i18n import clean
from qinglang.web import i18n
from qinglang.web.accounts import Accounts
from qinglang.web.ratelimit import Limiter
from qinglang.web.security import SecurityHeaders, csrf_token
from qinglang.web.tenancy import SCOPE_ATTR

STATIC = Path(__file__).with_name("static")
SESSION_HOURS = 12


@dataclass
class UiConfig:
    db: Path | None = None  # the collector's database
    readonly_dir: Path | None = None  # or: a directory of audits, read-only
    secure_cookies: bool = False  # Secure cookies: anything but plain loopback
    limiter: Limiter | None = None
    # the Host names a request may carry (None: any); read-only mode always takes LOOPBACK_HOSTS
    allowed_hosts: tuple[str, ...] | None = None


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str, extra: list[str]) -> tuple[str, ...] | None:
    """The Host names `qinglang ui --host HOST --allow-host EXTRA...` answers: on loopback the
    loopback names (a DNS-rebound name is refused); on one address, that address; on a wildcard
    (0.0.0.0, ::), any name unless some are given."""
    names = tuple(h.lower() for h in extra)
    if is_loopback(host):
        return LOOPBACK_HOSTS + names
    if host in ("0.0.0.0", "::", "[::]", ""):
        return names or None
    return (f"[{host}]" if ":" in host and not host.startswith("[") else host,) + names


def readonly_site_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9._-]", "-", path.resolve().name.lower()).strip("-._")
    return name[:63] or "audits"


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("qinglang.web", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # every string from data goes through the audit renderers' clean(): control and
        # bidi-override characters (a UA that reverses the text after it) become U+FFFD, then
        # autoescaping; markup a filter already made safe (tojson) is left as it is
        finalize=lambda v: clean(v) if isinstance(v, str) and not isinstance(v, Markup) else v,
    )
    env.globals.update(
        category_name=i18n.category_name,
        reason_name=i18n.reason_name,
        number=i18n.number,
        percent=i18n.percent,
    )
    return env


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
    lang = i18n.lang_of(request)
    state = request.app.state
    ctx.setdefault("role", getattr(request.state, "role", None))
    html = state.templates.get_template(name).render(
        request=request,
        lang=lang,
        t=i18n.translator(lang),
        csrf=csrf_token(request),
        user=getattr(request.state, "user", None),
        readonly=state.readonly_site is not None,
        **ctx,
    )
    return HTMLResponse(html, status_code=status)


ERROR_NAMES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """The router's own errors (no such path, a method it does not take): JSON on /api/."""
    status = getattr(exc, "status_code", 500)
    detail = str(getattr(exc, "detail", "") or "")
    if request.url.path.startswith("/api/"):
        name = ERROR_NAMES.get(status, "bad_request" if status < 500 else "internal")
        return JSONResponse({"error": name, "detail": detail}, status_code=status,
                            headers=getattr(exc, "headers", None))  # fmt: skip
    return PlainTextResponse(f"{status}: {detail}", status_code=status,
                             headers=getattr(exc, "headers", None))  # fmt: skip


async def _server_error(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "internal", "detail": "internal error (see the server log)"},
                            status_code=500)  # fmt: skip
    return PlainTextResponse("500: internal error (see the server log)", status_code=500)


ERROR_HANDLERS = {HTTPException: _http_error, Exception: _server_error}


def _check_scoped(routes: list[BaseRoute]) -> None:
    """Every route's endpoint passed through tenancy (public, signed_in or for_site)."""
    for r in routes:
        if isinstance(r, Route) and not hasattr(r.endpoint, SCOPE_ATTR):
            raise RuntimeError(f"route {r.path} has no tenancy scope")


def build_app(cfg: UiConfig) -> Starlette:
    from qinglang.web import routes_api, routes_auth, routes_pages

    routes: list[BaseRoute] = [
        *routes_auth.ROUTES,
        *routes_pages.ROUTES,
        *routes_api.ROUTES,
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    _check_scoped(routes)
    if cfg.db is not None:
        accounts = Accounts(cfg.db)
        key = accounts.session_key()
    else:
        import secrets

        accounts, key = None, secrets.token_hex(32)
    # Read-only mode has no login: a page whose name rebinds to 127.0.0.1 must not read it
    hosts = LOOPBACK_HOSTS if cfg.readonly_dir is not None else cfg.allowed_hosts
    middleware = [
        *([Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))] if hosts else []),
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=key,
            session_cookie="qinglang_session",
            max_age=SESSION_HOURS * 3600,
            same_site="strict",
            https_only=cfg.secure_cookies,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=ERROR_HANDLERS)
    _set_state(app, cfg, accounts)
    return app


def _set_state(app: Starlette, cfg: UiConfig, accounts: Accounts | None) -> None:
    from qinglang.web.audits import Runner
    from qinglang.web.routes_auth import HASH_SLOTS

    s = app.state
    s.cfg = cfg
    s.accounts = accounts
    s.templates = templates()
    s.limiter = cfg.limiter or Limiter()
    s.hash_slots = asyncio.Semaphore(HASH_SLOTS)
    s.readonly_site = readonly_site_name(cfg.readonly_dir) if cfg.readonly_dir else None
    if cfg.db is not None:
        from qinglang.collect.sites import SiteRegistry
        from qinglang.web.figures import Figures

        registry = SiteRegistry(cfg.db)
        s.figures = Figures(cfg.db)
        s.runner = Runner(cfg.db, on_done=_warm(s.figures))
        s.site_exists = lambda site: registry.get(site) is not None
        s.audits_dir = lambda site: s.runner.site_dir(site)
    else:
        s.figures = None
        s.runner = None
        s.site_exists = lambda site: site == s.readonly_site
        s.audits_dir = lambda site: Path(cfg.readonly_dir)  # type: ignore[arg-type]


def _warm(figures: Any) -> Any:
    """After an audit: build the site's rollups with its labels now, not on the next page."""

    def warm(site: str) -> None:
        figures.sources_of(site)

    return warm
