"""The console's refresh token: an HttpOnly, SameSite=Strict cookie scoped to the auth paths.

A page script never sees it (the access token stays in memory), so a reload signs back in through
POST /api/auth/refresh without any token in storage a script could read. Asking for the cookie, and
using it, takes the X-Refresh-Cookie: 1 header: a cross-site form cannot send a custom header, and a
cross-site script cannot either without a CORS permission the service never gives.
"""

import ipaddress

from flask import Request
from werkzeug.datastructures import Headers
from werkzeug.http import dump_cookie

from config import Settings

COOKIE_NAME = "refresh_token"  # noqa: S105 - the cookie's name, not a secret
COOKIE_PATH = "/api/auth"
HINT_NAME = "signed_in"  # readable by the console's scripts: whether a refresh cookie may be there
MODE_HEADER = "X-Refresh-Cookie"


def cookie_mode(request: Request) -> bool:
    """The client asked for the refresh token as a cookie (and may present it as one)."""
    return request.headers.get(MODE_HEADER, "").strip() == "1"


def cookie_token(request: Request) -> str | None:
    """The refresh token the cookie holds, if any."""
    return request.cookies.get(COOKIE_NAME) or None


def request_is_https(request: Request, settings: Settings) -> bool:
    """Whether the client reached the service over https: the scheme served, or a trusted proxy's word for it."""
    if request.scheme == "https":
        return True
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if not any(peer in network for network in settings.trusted_proxies):
        return False
    # The nearest proxy writes last: only its word is believed.
    forwarded = request.headers.getlist("X-Forwarded-Proto")
    last = forwarded[-1].split(",")[-1].strip().lower() if forwarded else ""
    return last == "https"


def set_cookie_headers(token: str, settings: Settings, secure: bool) -> Headers:
    """The Set-Cookie headers that hand the refresh token over, with its hint."""
    return _cookies(token, settings.refresh_token_ttl, secure)


def clear_cookie_headers(secure: bool) -> Headers:
    """The Set-Cookie headers that remove the refresh token cookie and its hint."""
    return _cookies("", 0, secure)


def _cookies(token: str, max_age: int, secure: bool) -> Headers:
    removed = {"expires": 0} if max_age == 0 else {}
    common = {"max_age": max_age, "secure": secure, "samesite": "Strict", **removed}
    return Headers(
        [
            ("Set-Cookie", dump_cookie(COOKIE_NAME, token, path=COOKIE_PATH, httponly=True, **common)),
            # No secret, only "a refresh cookie was handed over": a page load tries to sign back in only then,
            # instead of asking /api/auth/refresh (and getting a 401) each time nobody is signed in.
            ("Set-Cookie", dump_cookie(HINT_NAME, "1" if token else "", path="/", **common)),
        ]
    )
