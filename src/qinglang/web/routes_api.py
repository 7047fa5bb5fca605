"""The JSON API under /api/v1, mirroring the pages (same views.py functions).

GET routes take a bearer token or the browser's session. The one POST (run an audit) takes a
bearer token only: a cookie alone is never enough to change anything through the API, so it
needs no CSRF token.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from qinglang.errors import QinglangError
from qinglang.web import views
from qinglang.web.accounts import RUNS_AUDITS
from qinglang.web.audits import Busy
from qinglang.web.routes_pages import download_file
from qinglang.web.tenancy import for_site, forbidden, not_found, signed_in

MAX_JSON = 16 * 1024


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": "bad_request", "detail": message}, status_code=status)


async def _body(request: Request) -> bytes | None:
    """The request's body, or None past `MAX_JSON` bytes (refused by its Content-Length before
    reading; a chunked body is read only up to the cap)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_JSON):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON:
            return None
    return body


@signed_in
def api_sites(request: Request) -> Response:
    return JSONResponse({"sites": views.sites(request.app.state, request.state.user)})


@for_site()
def api_figures(request: Request) -> Response:
    try:
        found = views.figures(request.app.state, request.state.site, request.query_params)
    except QinglangError as exc:
        return _bad(str(exc))
    if found is None:
        return JSONResponse(
            {"error": "not_found", "detail": "read-only mode: no lake, only audits"}, 404
        )
    return JSONResponse(found)


@for_site()
def api_audits(request: Request) -> Response:
    return JSONResponse({"audits": views.audits(request.app.state, request.state.site)})


@for_site(RUNS_AUDITS)
async def api_run_audit(request: Request) -> Response:
    state: Any = request.app.state
    if not request.headers.get("authorization"):
        return forbidden(request, "running an audit through the API needs a bearer token")
    if state.runner is None:
        return forbidden(request, "read-only mode")
    body = await _body(request)
    if body is None:
        return _bad("body: at most 16 KiB of JSON", 413)
    try:
        fields = json.loads(body or b"{}")
        if not isinstance(fields, dict):
            raise ValueError
    except ValueError:
        return _bad('body: expected a JSON object such as {"price": 1.1, "from": "2026-12-01"}')
    try:
        options = views.audit_options(fields, str(fields.get("lang", "zh"))[:2])
        if options["lang"] not in ("zh", "en"):
            raise QinglangError("lang: expected zh or en")
    except QinglangError as exc:
        return _bad(str(exc))
    try:
        audit_id, _ = state.runner.submit(request.state.site, options, by=request.state.user.name)
    except Busy as exc:
        return JSONResponse({"error": "conflict", "detail": str(exc)}, status_code=409)
    return JSONResponse({"id": audit_id, "state": "running"}, status_code=202)


@for_site()
def api_audit(request: Request) -> Response:
    found = views.audit(request.app.state, request.state.site, request.path_params["audit"])
    return JSONResponse(found) if found is not None else not_found(request)


@for_site()
def api_category(request: Request) -> Response:
    p = request.path_params
    found = views.category(request.app.state, request.state.site, p["audit"], p["category"])
    return JSONResponse(found) if found is not None else not_found(request)


@for_site()
def api_source(request: Request) -> Response:
    name = request.query_params.get("name", "")
    found = views.source(request.app.state, request.state.site, request.path_params["audit"], name)
    return JSONResponse(found) if found is not None else not_found(request)


@for_site()
def api_download(request: Request) -> Response:
    return download_file(request)


ROUTES = [
    Route("/api/v1/sites", api_sites),
    Route("/api/v1/sites/{site}/figures", api_figures),
    Route("/api/v1/sites/{site}/audits", api_audits, methods=["GET"]),
    Route("/api/v1/sites/{site}/audits", api_run_audit, methods=["POST"]),
    Route("/api/v1/sites/{site}/audits/{audit}", api_audit),
    Route("/api/v1/sites/{site}/audits/{audit}/categories/{category}", api_category),
    Route("/api/v1/sites/{site}/audits/{audit}/source", api_source),
    Route("/api/v1/sites/{site}/audits/{audit}/files/{name}", api_download),
]
