"""Signing in and out, the language switch, the front door."""

from __future__ import annotations

import math
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from qinglang.web.app import SESSION_HOURS, render
from qinglang.web.i18n import LANGS
from qinglang.web.security import FormRefused, checked_form
from qinglang.web.tenancy import public, signed_in

MAX_NAME = 64
HASH_SLOTS = 2  # argon2 hashes at once (64 MiB and ~0.2 s of a core each); more logins wait


def local_path(target: str | None, default: str = "/sites") -> str:
    """`target` if it is a path on this site (not `//host` or `/\\host`), else `default`."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(c in target for c in "\r\n\\")
        or len(target) > 2000
    ):
        return default
    return target


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


@public
async def home(request: Request) -> Response:
    if request.app.state.readonly_site is not None:
        return RedirectResponse(f"/s/{request.app.state.readonly_site}/audits", status_code=303)
    return RedirectResponse("/sites", status_code=303)


@public
async def login_form(request: Request) -> Response:
    return render(request, "login.j2", next=local_path(request.query_params.get("next")))


@public
async def login(request: Request) -> Response:
    if request.app.state.accounts is None:
        return RedirectResponse("/", status_code=303)
    try:
        form = await checked_form(request)
    except FormRefused as refused:
        return render(request, "login.j2", status=refused.status, error=refused.why, next="/sites")
    name = str(form.get("user", ""))[:MAX_NAME]
    password = str(form.get("password", ""))
    target = local_path(str(form.get("next", "")))
    limiter, ip = request.app.state.limiter, client_ip(request)
    wait = limiter.blocked(name, ip)
    if wait > 0:
        return render(request, "login.j2", status=429, next=target,
                      error_key=("too_many", max(1, math.ceil(wait / 60))))  # fmt: skip
    async with request.app.state.hash_slots:  # off the event loop, a few at a time
        user = await run_in_threadpool(request.app.state.accounts.verify, name, password)
    if user is None:
        limiter.failed(name, ip)
        return render(request, "login.j2", status=401, next=target, error_key=("bad_login", 0))
    limiter.succeeded(name, ip)
    request.session.clear()  # a fresh session: nothing from before signing in carries over
    request.session.update(user=user.name, gen=user.generation, csrf=secrets.token_urlsafe(32),
                           sid=secrets.token_urlsafe(16))  # fmt: skip
    return RedirectResponse(target, status_code=303)


@signed_in
async def logout(request: Request) -> Response:
    try:
        await checked_form(request)
    except FormRefused as refused:
        return Response(refused.why, status_code=refused.status)
    sid = request.session.get("sid")
    if isinstance(sid, str) and request.app.state.accounts is not None:
        until = time.time() + SESSION_HOURS * 3600  # a copy of the cookie dies with this one
        await run_in_threadpool(request.app.state.accounts.end_session, sid, until)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@public
async def switch_lang(request: Request) -> Response:
    lang = request.path_params["lang"]
    target = local_path(request.query_params.get("next"), "/")
    response = RedirectResponse(target, status_code=303)
    if lang in LANGS:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="strict", httponly=True)
    return response


ROUTES = [
    Route("/", home),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/lang/{lang}", switch_lang, methods=["GET"]),
]
