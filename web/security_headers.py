"""The security headers of every answer, set in one place: the API, the pages, the stylesheet and the docs.

Every answer: `X-Content-Type-Options: nosniff` (and HSTS when served over https in production).
HTML pages: a strict Content-Security-Policy (nothing inline, nothing from elsewhere, never framed) and
`Referrer-Policy: no-referrer`, so a token in a page's address never leaves in a Referer header.
Answers and pages that carry a token or an API key: `Cache-Control: no-store`.
"""

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
# Connexion's Swagger UI page only. It starts with an inline <script>, allowed by its hash alone. Its
# inline <style> is allowed as such: styles run no code, and a hash would break the page whenever a
# Swagger UI release changes it. Its icons are data: images.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
HSTS = b"max-age=31536000"
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
# Headers this middleware decides: a value the app set for them is replaced.
OWNED = {b"x-content-type-options", b"strict-transport-security", b"content-security-policy", b"referrer-policy"}


class SecurityHeadersMiddleware:
    """Adds the service's security headers to every HTTP answer.

    `no_store_paths` are the paths whose answers carry secrets; `docs_prefix` is where the Swagger UI
    lives; `hsts` turns on Strict-Transport-Security.
    """

    def __init__(self, app: ASGIApp, *, no_store_paths: frozenset[str], docs_prefix: str, hsts: bool):
        self.app = app
        self.no_store_paths = no_store_paths
        self.docs_prefix = docs_prefix
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(self.docs_prefix):
            await self.app(scope, receive, _DocsPageSender(send, lambda headers, csp: self.headers(path, headers, csp)))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self.headers(path, message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def headers(self, path: str, headers: list, csp: str = STRICT_CSP) -> list:
        """The answer's headers with the policy's own."""
        kept = [(k, v) for k, v in headers if k.lower() not in OWNED]
        kept.append((b"x-content-type-options", b"nosniff"))
        if self.hsts:
            kept.append((b"strict-transport-security", HSTS))
        if path in self.no_store_paths:
            kept = [(k, v) for k, v in kept if k.lower() != b"cache-control"] + [(b"cache-control", b"no-store")]
        if is_html(headers):
            kept += [(b"content-security-policy", csp.encode()), (b"referrer-policy", b"no-referrer")]
        return kept


class _DocsPageSender:
    """A send that holds back an HTML page of the docs until its inline scripts are known, to allow them by hash.

    The page names the spec's URL, which depends on the path it is served under, so the hash is taken
    from the page as sent. Other answers there (the bundle's scripts and styles) pass as they come.
    """

    def __init__(self, send: Send, with_headers):
        self.send = send
        self.with_headers = with_headers
        self.start: Message | None = None
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] == "http.response.body" and self.start is not None:
            await self._body(message)
        else:
            await self.send(message)

    async def _start(self, message: Message) -> None:
        if is_html(message.get("headers", [])):
            self.start = message
            return
        message["headers"] = self.with_headers(message.get("headers", []), STRICT_CSP)
        await self.send(message)

    async def _body(self, message: Message) -> None:
        self.body += message.get("body", b"")
        if message.get("more_body"):
            return
        self.start["headers"] = self.with_headers(self.start.get("headers", []), docs_csp(self.body))
        await self.send(self.start)
        await self.send({"type": "http.response.body", "body": self.body})


def is_html(headers: list) -> bool:
    """True when the answer is an HTML page."""
    return any(k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in headers)


def docs_csp(page: bytes) -> str:
    """The docs' policy, allowing exactly the inline scripts of this page."""
    hashes = [base64.b64encode(hashlib.sha256(script).digest()).decode() for script in INLINE_SCRIPT.findall(page)]
    return DOCS_CSP.format(scripts=" ".join(f"'sha256-{digest}'" for digest in hashes))
