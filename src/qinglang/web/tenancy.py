"""Who is asking, and which site they may see: the one place every route checks it.

Every endpoint of the dashboard is wrapped by exactly one of `public`, `signed_in` or `for_site`
(web/app.py refuses to build a route without one, and the tenancy test walks the route table).
`for_site` reads the site from the path and the caller's grant on it: a site that does not
exist and a site the caller is not granted both answer 404 with the same body, so a name's
existence does not leak; a role the route does not allow answers 403. Without a session (pages)
or a valid `Authorization: Bearer` token (API) a page redirects to the login and the API answers
401. Bearer tokens are taken on /api/ only; sessions on both (the pages' scripts read the API).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from qinglang.web.accounts import ROLES, User

Endpoint = Callable[[Request], Awaitable[Response] | Response]
SCOPE_ATTR = "__qinglang_scope__"
LOCAL = "local"  # the user of `qinglang ui AUDIT_DIR` on loopback (read-only, no accounts)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def current_user(request: Request) -> User | None:
    """The caller: a bearer token on the API, else the session, else (read-only mode) the local
    auditor; None if none of these holds."""
    state = request.app.state
    if state.readonly_site is not None:
        return User(LOCAL, 0, {state.readonly_site: "auditor"})
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not is_api(request):
            return None
        return state.accounts.token_user(token.strip())
    name, gen, sid = (request.session.get(k) for k in ("user", "gen", "sid"))
    if not isinstance(name, str) or not isinstance(gen, int) or not isinstance(sid, str):
        return None
    if state.accounts.session_ended(sid):  # signed out: a copied cookie is refused too
        return None
    user = state.accounts.user(name)
    return user if user is not None and user.generation == gen else None


def _refuse_anonymous(request: Request) -> Response:
    if is_api(request):
        return JSONResponse(
            {"error": "unauthenticated", "detail": "sign in, or send Authorization: Bearer TOKEN"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def not_found(request: Request) -> Response:
    if is_api(request):
        return JSONResponse({"error": "not_found"}, status_code=404)
    return PlainTextResponse("404: not found", status_code=404)


def forbidden(request: Request, why: str) -> Response:
    if is_api(request):
        return JSONResponse({"error": "forbidden", "detail": why}, status_code=403)
    return PlainTextResponse(f"403: {why}", status_code=403)


async def _call(endpoint: Endpoint, request: Request) -> Response:
    if inspect.iscoroutinefunction(endpoint):
        return await endpoint(request)  # type: ignore[no-any-return]
    return await run_in_threadpool(endpoint, request)  # type: ignore[arg-type]


def _mark(handler: Any, scope: str, roles: Iterable[str] = ()) -> Any:
    setattr(handler, SCOPE_ATTR, (scope, tuple(roles)))
    return handler


def public(endpoint: Endpoint) -> Endpoint:
    """No sign-in needed (the login page, static files)."""

    async def handler(request: Request) -> Response:
        return await _call(endpoint, request)

    handler.__name__ = endpoint.__name__
    return _mark(handler, "public")  # type: ignore[no-any-return]


def signed_in(endpoint: Endpoint) -> Endpoint:
    """Any signed-in user; `request.state.user` is set."""

    async def handler(request: Request) -> Response:
        user = await run_in_threadpool(current_user, request)  # SQLite: off the event loop
        if user is None:
            return _refuse_anonymous(request)
        request.state.user = user
        return await _call(endpoint, request)

    handler.__name__ = endpoint.__name__
    return _mark(handler, "user")  # type: ignore[no-any-return]


def for_site(roles: Iterable[str] = ROLES) -> Callable[[Endpoint], Endpoint]:
    """A route of one site (`{site}` in its path), for users granted one of `roles` on it;
    `request.state.user`, `.site` and `.role` are set."""
    allowed = tuple(roles)

    def wrap(endpoint: Endpoint) -> Endpoint:
        async def handler(request: Request) -> Response:
            user = await run_in_threadpool(current_user, request)
            if user is None:
                return _refuse_anonymous(request)
            site = request.path_params.get("site")
            role = user.role_on(site) if isinstance(site, str) else None
            if role is None or not request.app.state.site_exists(site):
                return not_found(request)
            if role not in allowed:
                return forbidden(request, f"the {role} role cannot do this on {site}")
            request.state.user, request.state.site, request.state.role = user, site, role
            return await _call(endpoint, request)

        handler.__name__ = endpoint.__name__
        return _mark(handler, "site", allowed)  # type: ignore[no-any-return]

    return wrap
