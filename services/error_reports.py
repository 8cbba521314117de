"""Error reports to Sentry (SENTRY_DSN): unhandled errors and error log lines, stripped of personal data first.

Nothing about the people served leaves the service: no request body, cookie, header or query string, no user,
no local variables, no breadcrumbs; what remains (exception messages, log messages, the URL path) has email
addresses, CPFs, bearer tokens and JWTs replaced before it is sent.
"""

import re

import sentry_sdk

from services.context import current_request_id

EMAIL = re.compile(r"[^\s@<>()\"',;:/]+@[^\s@<>()\"',;:/]+")
# A CPF as written (529.982.247-25) or as stored (11 digits); any 11-digit number is taken for one.
CPF = re.compile(r"(?<![\d.-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d.-]|\.\d)")
JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|token|api[_-]?key|password|secret)([\s=:\"']+)[^\s\"',;&]+")
# Keys whose values are dropped wherever they appear in an event, whatever they hold.
SECRET_KEYS = re.compile(r"(?i)password|secret|token|authorization|cookie|api[_-]?key|session|email|document|cpf")
# What is kept of the request: how it was asked, not what it carried.
REQUEST_KEPT = ("method", "url")


def start_error_reports(dsn: str, environment: str) -> bool:
    """Send error reports to `dsn` from now on (once per process and DSN); an empty one sends nothing."""
    if not dsn:
        return False
    if sentry_sdk.get_client().dsn == dsn:
        return True
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        # What send_default_pii=False meant, in the form this SDK version reads (it deprecates that option):
        # no user, no bodies, no frame variables (they hold request bodies, customers, tokens).
        data_collection={"user_info": False, "http_bodies": [], "stack_frame_variables": False},
        include_local_variables=False,
        max_request_body_size="never",
        # Integrations are named, not guessed from what is installed: connexion's errors are captured by
        # the problem handler (report_error) and the logging integration, once each (deduplicated).
        auto_enabling_integrations=False,
        before_send=scrubbed,
        before_breadcrumb=lambda _crumb, _hint: None,
    )
    return True


def stop_error_reports() -> None:
    """Send what is queued, then nothing more (tests, and a process that ends)."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=5)
    sentry_sdk.get_global_scope().set_client(None)


def report_error(error: BaseException) -> None:
    """Report an unhandled error (nothing when SENTRY_DSN is unset)."""
    sentry_sdk.capture_exception(error)


def scrubbed(event: dict, _hint: dict | None = None) -> dict:
    """The event without personal data or secrets: Sentry's before_send."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {key: request[key] for key in REQUEST_KEPT if key in request}
        if "url" in event["request"]:
            event["request"]["url"] = str(event["request"]["url"]).partition("?")[0]
    for key in ("user", "breadcrumbs", "server_name"):
        event.pop(key, None)
    # The request id finds the request's log lines (before_send runs where the error was captured).
    if request_id := current_request_id():
        event.setdefault("tags", {})["request_id"] = request_id
    return _scrub(event)


def _scrub(value):
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: "[removed]" if _secret_key(key) else _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def _secret_key(key) -> bool:
    return isinstance(key, str) and bool(SECRET_KEYS.search(key))


def scrub_text(text: str) -> str:
    """Text with email addresses, CPFs, JWTs and credentials replaced."""
    text = JWT.sub("[token]", text)
    text = CREDENTIAL.sub(r"\1\2[removed]", text)
    text = EMAIL.sub("[email]", text)
    return CPF.sub("[cpf]", text)
