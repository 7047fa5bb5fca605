"""The dashboard's HTML pages (server-rendered: every table reads without JavaScript)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from qinglang.errors import QinglangError
from qinglang.web import views
from qinglang.web.accounts import ROLES, RUNS_AUDITS, USER_RE
from qinglang.web.app import render
from qinglang.web.audits import DOWNLOADS, Busy, find_audit
from qinglang.web.i18n import lang_of
from qinglang.web.security import FormRefused, checked_form
from qinglang.web.tenancy import for_site, not_found, signed_in


def _st(request: Request) -> Any:
    return request.app.state


@signed_in
def sites_page(request: Request) -> Response:
    return render(request, "sites.j2", sites=views.sites(_st(request), request.state.user))


@for_site()
def site_page(request: Request) -> Response:
    site = request.state.site
    if _st(request).figures is None:
        return RedirectResponse(f"/s/{site}/audits", status_code=303)
    try:
        figures = views.figures(_st(request), site, request.query_params)
    except QinglangError as exc:
        return PlainTextResponse(f"400: {exc}", status_code=400)
    asked = {"grain": figures["grain"]} if figures else {}
    for key in ("from", "to"):  # the poll keeps the period asked for, if one was
        if request.query_params.get(key) and figures:
            asked[key] = figures[key]
    return render(request, "site.j2", site=site, figures=figures, api=f"/api/v1/sites/{site}"
                  f"/figures?{urlencode(asked)}", can_run=request.state.role in RUNS_AUDITS)  # fmt: skip


@for_site()
def audits_page(request: Request) -> Response:
    site = request.state.site
    listed = views.audits(_st(request), site)
    started = request.query_params.get("started")  # shown only if it names one of these audits
    return render(request, "audits.j2", site=site, audits=listed,
                  can_run=_st(request).runner is not None and request.state.role in RUNS_AUDITS,
                  message=started if any(a["id"] == started for a in listed) else None)  # fmt: skip


@for_site(RUNS_AUDITS)
async def run_audit(request: Request) -> Response:
    site = request.state.site
    if _st(request).runner is None:
        return PlainTextResponse("403: read-only", status_code=403)
    try:
        form = await checked_form(request)
        options = views.audit_options(form, lang_of(request))
    except FormRefused as refused:
        return PlainTextResponse(f"{refused.status}: {refused.why}", status_code=refused.status)
    except QinglangError as exc:
        return render(request, "audits.j2", status=400, site=site, error=str(exc), can_run=True,
                      audits=views.audits(_st(request), site), message=None)  # fmt: skip
    try:
        audit_id, _ = _st(request).runner.submit(site, options, by=request.state.user.name)
    except Busy as exc:
        return render(request, "audits.j2", status=409, site=site, error=str(exc), can_run=True,
                      audits=views.audits(_st(request), site), message=None)  # fmt: skip
    return RedirectResponse(f"/s/{site}/audits?started={audit_id}", status_code=303)


@for_site()
def audit_page(request: Request) -> Response:
    site = request.state.site
    found = views.audit(_st(request), site, request.path_params["audit"])
    if found is None:
        return not_found(request)
    return render(request, "audit.j2", site=site, audit=found)


@for_site()
def category_page(request: Request) -> Response:
    site, p = request.state.site, request.path_params
    found = views.category(_st(request), site, p["audit"], p["category"])
    if found is None:
        return not_found(request)
    return render(request, "category.j2", site=site, detail=found)


@for_site()
def source_page(request: Request) -> Response:
    site, p = request.state.site, request.path_params
    found = views.source(_st(request), site, p["audit"], request.query_params.get("name", ""))
    if found is None:
        return not_found(request)
    return render(request, "category.j2", site=site, detail=found)


@for_site()
def download(request: Request) -> Response:
    return download_file(request)


def download_file(request: Request) -> Response:
    """An audit's file (the names in DOWNLOADS only), as an attachment in a sandbox."""
    site, p = request.state.site, request.path_params
    name = p["name"]
    info = find_audit(_st(request).audits_dir(site), p["audit"])
    if info is None or name not in DOWNLOADS or name not in info.files:
        return not_found(request)
    return FileResponse(
        info.path / name,
        media_type=DOWNLOADS[name],
        filename=f"{site}-{info.id}-{name}",
        headers={"content-security-policy": "sandbox; default-src 'none'"},
    )


def _users(request: Request, error: str | None = None) -> Response:
    """The site's users page; with `error`, the same page answering 400 with it shown."""
    site = request.state.site
    return render(request, "users.j2", status=400 if error else 200, site=site, roles=ROLES,
                  users=_st(request).accounts.users_of(site), error=error)  # fmt: skip


@for_site(["owner"])
def users_page(request: Request) -> Response:
    return _users(request)


@for_site(["owner"])
async def users_change(request: Request) -> Response:
    site = request.state.site
    try:
        form = await checked_form(request)
    except FormRefused as refused:
        return PlainTextResponse(f"{refused.status}: {refused.why}", status_code=refused.status)
    name, role = str(form.get("user", ""))[:64], str(form.get("role", ""))
    accounts = _st(request).accounts
    try:
        if not USER_RE.match(name) or accounts.user(name) is None:
            return _users(request, "user: no such user (qinglang user add NAME first)")
        if name == request.state.user.name:  # the site would be left without its owner
            return _users(request, "user: an owner cannot change their own role")
        if form.get("action") == "revoke":
            accounts.revoke(name, site)
        else:
            accounts.grant(name, site, role)
    except QinglangError as exc:
        return _users(request, str(exc))
    return RedirectResponse(f"/s/{site}/users", status_code=303)


ROUTES = [
    Route("/sites", sites_page),
    Route("/s/{site}", site_page),
    Route("/s/{site}/audits", audits_page, methods=["GET"]),
    Route("/s/{site}/audits", run_audit, methods=["POST"]),
    Route("/s/{site}/audits/{audit}", audit_page),
    Route("/s/{site}/audits/{audit}/category/{category}", category_page),
    Route("/s/{site}/audits/{audit}/source", source_page),
    Route("/s/{site}/audits/{audit}/files/{name}", download),
    Route("/s/{site}/users", users_page, methods=["GET"]),
    Route("/s/{site}/users", users_change, methods=["POST"]),
]
