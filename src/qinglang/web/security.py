"""Response headers every answer carries, and the CSRF token every POST form must return.

The CSP allows scripts and styles from the dashboard's own origin only (no inline script, no
CDN), no framing, no plugins; a download (an audit's report.html) is also sandboxed and sent as
an attachment, so its markup never runs in the dashboard's origin.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf"


class SecurityHeaders:
    """ASGI middleware: adds `HEADERS` to every HTTP response (no-store on pages and API)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}  # a route's own CSP (downloads) stays
                headers += [h for h in HEADERS if h[0] not in have]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


class FormRefused(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status
        self.why = why


async def checked_form(request: Request) -> FormData:
    """The POSTed form, if it is small, url-encoded or multipart, and carries the session's CSRF
    token; raises FormRefused otherwise (the app answers 400, 403 or 413)."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise FormRefused(411, "a form needs a Content-Length")
    if int(length) > MAX_FORM_BYTES:
        raise FormRefused(413, "form too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise FormRefused(400, "expected a form (application/x-www-form-urlencoded)")
    form = await request.form(max_files=0, max_fields=50, max_part_size=MAX_FORM_BYTES)
    sent: Any = form.get(CSRF_FIELD)
    want = request.session.get("csrf")
    if (
        not isinstance(sent, str)
        or not isinstance(want, str)
        or not hmac.compare_digest(sent.encode(), want.encode())
    ):
        raise FormRefused(403, "the form's CSRF token is missing or stale: reload the page")
    return form
