"""Settings read from the environment (and an optional .env file), with safe defaults.

`load_settings()` builds one frozen `Settings` at start-up: every setting is a typed attribute, named as its
environment variable in lower case (PAGE_SIZE_MAX -> settings.page_size_max). A value the service cannot run
with, an override naming no setting, or an override of the wrong type raises ConfigurationError naming it.
"""

import dataclasses
import difflib
import ipaddress
import os
import secrets
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

ENVIRONMENTS = ("development", "test", "production")
MAIL_BACKENDS = ("console", "smtp")
MAX_SESSION_CHECK_SECONDS = 2
QUEUE_SCHEMES = ("sqlite:///", "redis://", "rediss://")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigurationError(RuntimeError):
    """The environment describes a configuration the service refuses to run with."""


def _normalised(convert: Callable) -> dict:
    """Field metadata: how a given value (from the environment or an override) is put in canonical form."""
    return {"normalise": convert}


def _upper(value: str) -> str:
    return value.upper()


def _base_url(value: str) -> str:
    return value.rstrip("/")


def _languages(value: frozenset[str]) -> frozenset[str]:
    return frozenset(code.strip().lower() for code in value if code.strip())


def _money(value: Decimal) -> Decimal:
    # Half-up, as every other money figure of the service.
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _absolute_sqlite_url(url: str) -> str:
    """Anchor a relative SQLite path at the project directory, not the working directory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/") or url == "sqlite://":
        return url
    path = url[len(prefix) :]
    if path == ":memory:" or path.startswith("file:"):
        return url
    return prefix + str(BASE_DIR / path)


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, typed; built once at start-up by load_settings (docs: DESIGN.md section 2)."""

    app_env: str = "development"  # development, test or production
    # JWT signing key (and, derived from it, the cursor signing key); generated once in instance/ in development.
    secret_key: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    # How mails link back to the service; http://HOST:PORT unless given.
    public_base_url: str = field(default="http://127.0.0.1:8000", metadata=_normalised(_base_url))
    # Proxies whose X-Forwarded-For is believed; nobody by default, so a client cannot pick its address.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    database_url: str = field(
        default=f"sqlite:///{BASE_DIR / 'instance' / 'customers.db'}", metadata=_normalised(_absolute_sqlite_url)
    )
    # Handlers run on a pool of threads (web/wsgi_bridge.py, 10 per process): keep a connection for each
    # rather than opening and closing overflow connections under load.
    database_pool_size: int = 10
    # Bounded waits on the database (seconds): opening a connection, one statement (PostgreSQL; 0 = no limit),
    # and a free connection of the pool. Past them a request answers 503 with Retry-After, never hangs.
    database_connect_timeout: int = 5
    database_statement_timeout: int = 30
    database_pool_timeout: int = 5
    auto_migrate: bool = True  # false by default in production
    log_level: str = field(default="INFO", metadata=_normalised(_upper))
    log_format: str = "json"
    default_phone_region: str = field(default="US", metadata=_normalised(_upper))
    supported_languages: frozenset[str] = field(default=frozenset(), metadata=_normalised(_languages))
    page_size_default: int = 20
    page_size_max: int = 100
    max_request_bytes: int = 1024 * 1024
    validate_responses: bool = True  # false by default in production
    # Swagger UI at /api/ui/ and the spec at /api/openapi.json; off, both answer 404.
    api_docs: bool = True
    access_token_ttl: int = 900
    # A process trusts a session it confirmed with the database for this many seconds (at most 2; 0: every request
    # asks): a session ended or a user changed elsewhere is refused within that window, at once in this process.
    session_check_seconds: Decimal = Decimal("2")
    refresh_token_ttl: int = 14 * 24 * 3600
    # A refresh token presented again this many seconds after its rotation gets the same new pair (tabs refreshing
    # at once); later, a second use ends the session.
    refresh_reuse_grace_seconds: int = 10
    reset_token_ttl: int = 1800
    verify_token_ttl: int = 2 * 24 * 3600
    mail_backend: str = "console"  # console or smtp
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_timeout: int = 10
    mail_from: str = "no-reply@localhost"
    # Delivery attempts of a mail (the first included) before it is given up, the first retry this many seconds
    # after a failure, each later one twice as long after the one before.
    mail_attempts: int = 6
    mail_retry_delay: int = 30
    rate_limit_storage_url: str = "memory://"
    rate_limit_login: str = "10/minute;100/hour"
    rate_limit_signup: str = "5/minute;50/hour"
    rate_limit_reset: str = "5/minute;20/hour"
    rate_limit_refresh: str = "30/minute"
    rate_limit_password: str = "5/15 minutes"  # noqa: S105 - a rate, not a password
    rate_limit_email: str = "5/minute;20/hour"
    cashback_api_url: str = ""  # empty: sales are kept, not forwarded
    cashback_api_timeout: Decimal = Decimal("5")  # seconds to connect, and between two reads of the answer
    cashback_api_deadline: Decimal = Decimal("15")  # seconds one whole call may take, however the partner drips
    # Automatic forwarding attempts of a sale (the first included) before it is `failed` for reconciliation,
    # the first retry this many seconds after a failure, each later one twice as long after the one before.
    cashback_forward_attempts: int = 5
    cashback_retry_delay: int = 30
    # Background work (imports, mail, forwarding, housekeeping): the queue's storage, sqlite:///path (one machine)
    # or redis://host:port/db (several); with QUEUE_EMBEDDED each web process also runs QUEUE_WORKERS workers.
    queue_url: str = field(default=f"sqlite:///{INSTANCE_DIR / 'queue.db'}", metadata=_normalised(_absolute_sqlite_url))
    queue_embedded: bool = True
    queue_workers: int = 2
    # A running import renews its lease while it works; a job whose lease lapsed (its worker died) is resumed.
    import_lease_seconds: int = 60
    # A request that claimed an Idempotency-Key renews the claim while it runs; a lapsed claim may be retried.
    idempotency_lease_seconds: int = 30
    max_import_bytes: int = 1024**3
    import_sync_max_bytes: int = 1024 * 1024
    import_dir: Path = INSTANCE_DIR / "imports"
    import_report_max_errors: int = 1000
    signup_bonus_cashback: Decimal = field(default=Decimal("0.00"), metadata=_normalised(_money))
    # Bearer token a scrape of /metrics must send; empty: open outside production, 404 in production.
    metrics_token: str = field(default="", repr=False)
    # Error reports to Sentry (or a compatible server), only when set; the environment they are filed under.
    sentry_dsn: str = field(default="", repr=False)
    sentry_environment: str = ""  # empty: APP_ENV

    def __post_init__(self) -> None:
        for name, kind in _FIELD_TYPES.items():
            _check_type(name, kind, getattr(self, name))
        if self.app_env not in ENVIRONMENTS:
            raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.app_env!r}")
        if not self.secret_key:
            raise ConfigurationError("SECRET_KEY must be set")
        if self.production and len(self.secret_key.encode()) < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 bytes in production")
        if not 1 <= self.page_size_default <= self.page_size_max:
            raise ConfigurationError("PAGE_SIZE_DEFAULT must be between 1 and PAGE_SIZE_MAX")
        for name in ("import_report_max_errors", "refresh_reuse_grace_seconds"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name.upper()} must be a whole number of at least 0")
        if not self.queue_url.startswith(QUEUE_SCHEMES):
            raise ConfigurationError(
                f"QUEUE_URL must start with one of {', '.join(QUEUE_SCHEMES)}, not {self.queue_url!r}"
            )
        for name in (
            "queue_workers",
            "cashback_forward_attempts",
            "import_lease_seconds",
            "idempotency_lease_seconds",
            "mail_attempts",
            "mail_retry_delay",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name.upper()} must be a whole number of at least 1")
        if self.session_check_seconds > MAX_SESSION_CHECK_SECONDS:
            raise ConfigurationError(f"SESSION_CHECK_SECONDS must be at most {MAX_SESSION_CHECK_SECONDS}")
        if self.mail_backend not in MAIL_BACKENDS:
            raise ConfigurationError(f"MAIL_BACKEND must be console or smtp, not {self.mail_backend!r}")

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    def flask_config(self) -> dict:
        """The keys Flask and its extensions (Flask-SQLAlchemy) read from app.config, derived from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "TESTING": self.app_env == "test",
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(self),
        }


_FIELD_TYPES: dict[str, object] = typing.get_type_hints(Settings)
_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
# Settings are named by their environment variable, in overrides too.
SETTING_NAMES = {name.upper(): name for name in _FIELDS}


def _check_type(name: str, kind, value) -> None:
    """Refuse a value that is not of the declared type of the setting, naming it."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is tuple:
        ok = isinstance(value, tuple) and all(isinstance(item, args[0]) for item in value)
    elif origin is frozenset:
        ok = isinstance(value, frozenset) and all(isinstance(item, args[0]) for item in value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigurationError(f"{name.upper()} must be {_TYPE_WORDS[kind]}, not {value!r}")
    if kind is Decimal and (not value.is_finite() or value < 0):
        raise ConfigurationError(f"{name.upper()} must be a number of at least 0, not {value!r}")


_TYPE_WORDS = {
    str: "text",
    int: "a whole number",
    bool: "true or false",
    Decimal: "a number",
    Path: "a path",
    frozenset[str]: "a comma-separated list",
    tuple[IPNetwork, ...]: "a comma-separated list of IP addresses or CIDR networks",
}


def _to_int(name: str, value):
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None
    return value


def _to_bool(name: str, value):
    if isinstance(value, str):
        word = value.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ConfigurationError(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}")
        return word in TRUE_WORDS
    return value


def _to_decimal(name: str, value):
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ConfigurationError(f"{name} must be a number, not {value!r}") from None
        if not number.is_finite() or number < 0:
            raise ConfigurationError(f"{name} must be a number of at least 0, not {value!r}")
        return number
    return value


def _to_path(_name: str, value):
    return Path(value) if isinstance(value, str) else value


def _to_words(_name: str, value):
    if isinstance(value, str):
        return frozenset(value.split(","))
    return frozenset(value) if isinstance(value, list | tuple | set) else value


def _to_networks(name: str, value):
    """Comma-separated IP addresses or CIDR networks, parsed once; a bad entry is named."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return value
    networks = []
    for entry in value:
        entry = entry.strip() if isinstance(entry, str) else entry
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"{name}: {entry!r} is not an IP address or CIDR network ({error})") from None
    return tuple(networks)


_CONVERTERS = {
    int: _to_int,
    bool: _to_bool,
    Decimal: _to_decimal,
    Path: _to_path,
    frozenset[str]: _to_words,
    tuple[IPNetwork, ...]: _to_networks,
}


def _convert(name: str, value):
    """A value from the environment (text) or an override (text or the setting's type) as the setting's type."""
    attribute = SETTING_NAMES[name]
    kind = _FIELD_TYPES[attribute]
    value = _CONVERTERS.get(kind, lambda _name, given: given)(name, value)
    _check_type(attribute, kind, value)
    normalise = _FIELDS[attribute].metadata.get("normalise")
    return normalise(value) if normalise else value


def _engine_options(settings: Settings) -> dict:
    """The pool and the bounded waits of the database engine."""
    url = settings.database_url
    if url in ("sqlite://", "sqlite:///:memory:"):
        return {}  # one shared in-memory connection; there is no pool to size
    options = {
        "pool_size": settings.database_pool_size,
        "max_overflow": 5,
        "pool_timeout": settings.database_pool_timeout,
    }
    if url.startswith("postgresql"):
        statement_ms = settings.database_statement_timeout * 1000
        # A connection the server dropped (a restart, an outage) is replaced, not handed to a request.
        options["pool_pre_ping"] = True
        options["connect_args"] = {
            "connect_timeout": settings.database_connect_timeout,
            "options": f"-c statement_timeout={statement_ms}",
        }
    return options


def _development_secret_key() -> str:
    """A key generated on first use and kept in instance/, so restarts keep tokens valid."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _unknown_names(overrides: Mapping[str, object]) -> None:
    for name in overrides:
        if name not in SETTING_NAMES:
            close = difflib.get_close_matches(str(name).upper(), SETTING_NAMES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigurationError(f"{name!r} is not a setting{hint}")


def load_settings(overrides: Mapping[str, object] | None = None) -> Settings:
    """Build the settings from the environment (and .env), explicit overrides taking precedence.

    Overrides are named as the environment variables are (PAGE_SIZE_MAX); a value is text, parsed as the
    environment's would be, or already of the setting's type.
    """
    load_dotenv(BASE_DIR / ".env", override=False)
    overrides = dict(overrides or {})
    _unknown_names(overrides)
    given: dict[str, object] = {}
    for name, attribute in SETTING_NAMES.items():
        if name in overrides:
            given[attribute] = _convert(name, overrides[name])
        elif value := os.environ.get(name, "").strip():
            given[attribute] = _convert(name, value)

    app_env = given.get("app_env", Settings.app_env)
    if app_env not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")
    production = app_env == "production"
    if not given.get("secret_key"):
        if production:
            raise ConfigurationError("SECRET_KEY must be set in production")
        given["secret_key"] = _development_secret_key()
    if "public_base_url" not in given:
        host, port = given.get("host", Settings.host), given.get("port", Settings.port)
        given["public_base_url"] = f"http://{host}:{port}"
    for attribute in ("auto_migrate", "validate_responses"):
        given.setdefault(attribute, not production)
    return Settings(**given)
