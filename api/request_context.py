"""Request IDs, the client's address, the log context, JSON log lines, the size limit and unrouted API paths."""

import functools
import ipaddress
import logging
import random
import re
import sys
import time

import orjson
from connexion.exceptions import ProblemException
from connexion.middleware.abstract import ROUTING_CONTEXT
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.context import client_address_var, request_id_var
from services.metrics import record_request

REQUEST_ID_HEADER = b"x-request-id"
VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
FORWARDED_FOR_HEADER = b"x-forwarded-for"
# The address given to requests whose true peer the server hid (RFC 7239's word for an undisclosed node):
# one shared name, so limits still count them.
UNKNOWN_CLIENT = "unknown"
METRICS_OPERATION = "metrics"  # the operationId of GET /api/metrics
METRICS_PATH = "/metrics"  # the same, where Prometheus looks by default

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

access_log = logging.getLogger("customer_interface.access")
log = logging.getLogger(__name__)


class RequestContextMiddleware:
    """Keeps a valid incoming X-Request-ID or makes one, echoes it, and logs one line per request.

    `state` is shared with the rest of the stack through scope["state"] (e.g. the token codec the
    security functions need, which run outside the Flask app). `trusted_proxies` (TRUSTED_PROXIES)
    are the only peers whose X-Forwarded-For names the client.
    """

    def __init__(self, app: ASGIApp, state: dict | None = None, trusted_proxies: tuple[IPNetwork, ...] = ()):
        self.app = app
        self.state = state or {}
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {}).update(self.state)
        # Connexion's routing records the operation in scope["extensions"] of a copy of this scope: made here,
        # the dict is shared, so the request's operation is known here once it has been answered (metrics).
        scope.setdefault("extensions", {})
        # Ids only need to be unique, not secret: skip the urandom system call of uuid4.
        request_id = _incoming_request_id(scope) or f"{random.getrandbits(128):032x}"
        encoded = request_id.encode()
        token = request_id_var.set(request_id)
        address_token = client_address_var.set(self._client_address(scope))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, encoded))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # Connexion reports `module.function`; the label is the spec's operationId.
            operation = (_operation_id(scope) or "").rpartition(".")[2] or None
            # Scrapes are left out: they would count themselves.
            if operation != METRICS_OPERATION and scope["path"] != METRICS_PATH:
                record_request(operation, scope["method"], status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)
            client_address_var.reset(address_token)

    def _client_address(self, scope: Scope) -> str | None:
        """The peer, or the client its trusted proxies name; never an address the server took from a header."""
        client = scope.get("client")
        forwarded_for = [value.decode("latin-1") for key, value in scope["headers"] if key == FORWARDED_FOR_HEADER]
        if client and forwarded_for and _rewritten_by_server(client, forwarded_for):
            _warn_server_rewrites()
            return UNKNOWN_CLIENT
        return _resolved_address(client[0] if client else None, tuple(forwarded_for), self.trusted_proxies)


@functools.lru_cache(maxsize=4096)
def _resolved_address(peer: str | None, forwarded_for: tuple[str, ...], trusted: tuple[IPNetwork, ...]) -> str | None:
    # The same few peers and proxy chains come again and again: parse each once.
    return resolve_client_address(peer, list(forwarded_for), trusted)


def resolve_client_address(peer: str | None, forwarded_for: list[str], trusted: tuple[IPNetwork, ...]) -> str | None:
    """The client's address: the peer, unless it is a trusted proxy; then X-Forwarded-For read from the right.

    Each proxy appends the address it received from, so entries are believed only while the hop that
    wrote them is trusted: the first untrusted address is the client. A malformed entry ends the walk
    at the last trusted hop, as nothing to its left can be vouched for.
    """
    address = _ip(peer)
    if address is None or not _trusted(address, trusted):
        return str(address) if address else peer
    for entry in reversed(_entries(forwarded_for)):
        hop = _ip(_without_port(entry))
        if hop is None:
            break
        address = hop
        if not _trusted(hop, trusted):
            break
    return str(address)


def _entries(forwarded_for: list[str]) -> list[str]:
    """Every X-Forwarded-For header joined, as one list of hops from the client to the last proxy."""
    return [item.strip() for value in forwarded_for for item in value.split(",")]


def _ip(value: str | None) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; TRUSTED_PROXIES names them as IPv4.
    return address.ipv4_mapped or address if address.version == 6 else address


def _trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in trusted)


def _without_port(entry: str) -> str:
    """Drop a port: "[2001:db8::1]:443" -> "2001:db8::1", "192.0.2.1:80" -> "192.0.2.1"."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0] if "]" in entry else entry
    return entry.partition(":")[0] if entry.count(":") == 1 else entry


def _rewritten_by_server(client: tuple, forwarded_for: list[str]) -> bool:
    """True when the server (uvicorn's proxy headers, on by default) replaced the peer by a header entry.

    A real TCP peer has a port; uvicorn's rewrite takes host and port from an X-Forwarded-For entry,
    with port 0 when the entry has none.
    """
    host, port = client[0], client[1]
    if port == 0:
        return True
    return any(_host_port(entry) == (host, port) for entry in _entries(forwarded_for))


def _host_port(entry: str) -> tuple[str, int] | None:
    """An entry's host and port read as uvicorn reads them ("[v6]:port" or "v4:port"), or None without a port."""
    if entry.startswith("[") and "]:" in entry:
        host, _, port = entry[1:].partition("]:")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        return None
    try:
        return host, int(port)
    except ValueError:
        return None


@functools.cache
def _warn_server_rewrites() -> None:
    """Once per process: the server trusts forwarded headers itself, so the true peer is lost."""
    log.warning(
        "the server replaced the client address from X-Forwarded-For before the app saw it; such requests "
        "are counted as %r. Serve with `uvicorn app:app --no-proxy-headers` or `gunicorn -c gunicorn.conf.py "
        "app:app`, and name the proxies in TRUSTED_PROXIES",
        UNKNOWN_CLIENT,
    )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == REQUEST_ID_HEADER:
            return value.decode() if VALID_REQUEST_ID.match(value) else None
    return None


class JSONFormatter(logging.Formatter):
    """One JSON object per line, carrying the request id of the request being handled."""

    EXTRA_FIELDS = ("method", "path", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for name in self.EXTRA_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, still carrying the request id."""

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = request_id_var.get() or "-"
        return super().format(record)


def configure_logging(level: str, log_format: str) -> None:
    """Send every log line to stderr in the configured format (stdout is left to output, e.g. an export)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    # No line shows the caller's file and line, thread or process: skip gathering them for every record
    # (the Logging HOWTO's "Optimization"; the access log writes one record per request).
    logging._srcfile = None  # noqa: SLF001
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours, without the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class PayloadTooLarge(ProblemException):
    """The body is larger than MAX_REQUEST_BYTES."""

    def __init__(self, max_bytes: int):
        super().__init__(
            status=413,
            title="Content Too Large",
            detail=f"The request body is larger than the limit of {max_bytes} bytes.",
        )


class BodySizeLimitMiddleware:
    """Refuses bodies over the configured size with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None):
        self.app = app
        self.default_max = max_bytes
        self.larger = larger or {}  # path -> its own limit (uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger.get(scope["path"], self.default_max)
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > max_bytes:
                raise PayloadTooLarge(max_bytes)
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise PayloadTooLarge(max_bytes)
            return message

        await self.app(scope, counted_receive, send)


class OperationRequiredMiddleware:
    """Answers 404 for a path under the API that Connexion's router matched to no operation.

    Flask routes the same paths again with rules of its own: a path parameter holding a newline is
    missed by Connexion's mount (its pattern stops at a newline) yet matched by Flask, which would run
    the operation without its Connexion context (no security, no validation) and fail. Placed after
    the routing middleware, before security, so the answer is the same with or without credentials.
    """

    def __init__(self, app: ASGIApp, base_path: str):
        self.app = app
        self.base_path = base_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._under_api(scope["path"]) and not _operation_id(scope):
            raise HTTPException(404)
        await self.app(scope, receive, send)

    def _under_api(self, path: str) -> bool:
        return path == self.base_path or path.startswith(self.base_path + "/")


def _operation_id(scope: Scope) -> str | None:
    return scope.get("extensions", {}).get(ROUTING_CONTEXT, {}).get("operation_id")
