"""Settings read from the environment (and an optional .env file), with safe defaults."""

import ipaddress
import os
import secrets
from decimal import Decimal, InvalidOperation
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

ENVIRONMENTS = ("development", "test", "production")


def _flag(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value if value else default


def _decimal(name: str, value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConfigurationError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ConfigurationError(f"{name} must be a number of at least 0, not {value!r}")
    return number


def _money(name: str, value: str) -> Decimal:
    return _decimal(name, value).quantize(Decimal("0.01"))


def _networks(name: str, value) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated IP addresses or CIDR networks, parsed once; a bad entry is named."""
    entries = value.split(",") if isinstance(value, str) else value
    networks = []
    for entry in entries:
        entry = entry.strip() if isinstance(entry, str) else entry
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as error:
            raise ConfigurationError(f"{name}: {entry!r} is not an IP address or CIDR network ({error})") from None
    return tuple(networks)


def _absolute_sqlite_url(url: str) -> str:
    """Anchor a relative SQLite path at the project directory, not the working directory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.startswith(prefix + "/") or url == "sqlite://":
        return url
    path = url[len(prefix) :]
    if path == ":memory:" or path.startswith("file:"):
        return url
    return prefix + str(BASE_DIR / path)


def _pool_options(database_url: str, pool_size: int) -> dict:
    if database_url in ("sqlite://", "sqlite:///:memory:"):
        return {}  # one shared in-memory connection; there is no pool to size
    return {"pool_size": pool_size, "max_overflow": 5}


def _development_secret_key() -> str:
    """A key generated on first use and kept in instance/, so restarts keep tokens valid."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


class ConfigurationError(RuntimeError):
    """The environment describes a configuration the service refuses to run with."""


def load_settings(overrides: dict | None = None) -> dict:
    """Build the Flask configuration from the environment, then apply explicit overrides."""
    load_dotenv(BASE_DIR / ".env", override=False)
    overrides = dict(overrides or {})

    def setting(name: str, default: str):
        return overrides.pop(name) if name in overrides else _env(name, default)

    def number(name: str, default: int) -> int:
        value = setting(name, str(default))
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None

    app_env = setting("APP_ENV", "development")
    if app_env not in ENVIRONMENTS:
        raise ConfigurationError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {app_env!r}")
    production = app_env == "production"

    host = setting("HOST", "127.0.0.1")
    port = number("PORT", 8000)
    secret_key = setting("SECRET_KEY", "")
    if not secret_key:
        if production:
            raise ConfigurationError("SECRET_KEY must be set in production")
        secret_key = _development_secret_key()
    if production and len(secret_key.encode()) < 32:
        raise ConfigurationError("SECRET_KEY must be at least 32 bytes in production")

    page_size_default = number("PAGE_SIZE_DEFAULT", 20)
    page_size_max = number("PAGE_SIZE_MAX", 100)
    if not 1 <= page_size_default <= page_size_max:
        raise ConfigurationError("PAGE_SIZE_DEFAULT must be between 1 and PAGE_SIZE_MAX")

    database_url = _absolute_sqlite_url(setting("DATABASE_URL", "sqlite:///instance/customers.db"))
    supported_languages = setting("SUPPORTED_LANGUAGES", "")
    settings = {
        "APP_ENV": app_env,
        "TESTING": app_env == "test",
        "SECRET_KEY": secret_key,
        "HOST": host,
        "PORT": port,
        "PUBLIC_BASE_URL": setting("PUBLIC_BASE_URL", f"http://{host}:{port}").rstrip("/"),
        # Proxies whose X-Forwarded-For is believed; nobody by default, so a client cannot pick its address.
        "TRUSTED_PROXIES": _networks("TRUSTED_PROXIES", setting("TRUSTED_PROXIES", "")),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "AUTO_MIGRATE": _flag(setting("AUTO_MIGRATE", "false" if production else "true")),
        "LOG_LEVEL": setting("LOG_LEVEL", "INFO").upper(),
        "LOG_FORMAT": setting("LOG_FORMAT", "json"),
        "DEFAULT_PHONE_REGION": setting("DEFAULT_PHONE_REGION", "US").upper(),
        "SUPPORTED_LANGUAGES": frozenset(
            code.strip().lower() for code in supported_languages.split(",") if code.strip()
        ),
        "PAGE_SIZE_DEFAULT": page_size_default,
        "PAGE_SIZE_MAX": page_size_max,
        "MAX_REQUEST_BYTES": number("MAX_REQUEST_BYTES", 1024 * 1024),
        # Handlers run on a pool of threads (a2wsgi's, 10 by default): keep a connection for each
        # rather than opening and closing overflow connections under load.
        "SQLALCHEMY_ENGINE_OPTIONS": _pool_options(database_url, number("DATABASE_POOL_SIZE", 10)),
        "VALIDATE_RESPONSES": _flag(setting("VALIDATE_RESPONSES", "false" if production else "true")),
        # Swagger UI at /api/ui/ and the spec at /api/openapi.json; off, both answer 404.
        "API_DOCS": _flag(setting("API_DOCS", "true")),
        "ACCESS_TOKEN_TTL": number("ACCESS_TOKEN_TTL", 900),
        "REFRESH_TOKEN_TTL": number("REFRESH_TOKEN_TTL", 14 * 24 * 3600),
        "RESET_TOKEN_TTL": number("RESET_TOKEN_TTL", 1800),
        "VERIFY_TOKEN_TTL": number("VERIFY_TOKEN_TTL", 2 * 24 * 3600),
        "MAIL_BACKEND": setting("MAIL_BACKEND", "console"),
        "SMTP_HOST": setting("SMTP_HOST", "localhost"),
        "SMTP_PORT": number("SMTP_PORT", 25),
        "SMTP_USER": setting("SMTP_USER", ""),
        "SMTP_PASSWORD": setting("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _flag(setting("SMTP_STARTTLS", "false")),
        "SMTP_TIMEOUT": number("SMTP_TIMEOUT", 10),
        "MAIL_FROM": setting("MAIL_FROM", "no-reply@localhost"),
        "RATE_LIMIT_STORAGE_URL": setting("RATE_LIMIT_STORAGE_URL", "memory://"),
        "RATE_LIMIT_LOGIN": setting("RATE_LIMIT_LOGIN", "10/minute;100/hour"),
        "RATE_LIMIT_SIGNUP": setting("RATE_LIMIT_SIGNUP", "5/minute;50/hour"),
        "RATE_LIMIT_RESET": setting("RATE_LIMIT_RESET", "5/minute;20/hour"),
        "RATE_LIMIT_REFRESH": setting("RATE_LIMIT_REFRESH", "30/minute"),
        "RATE_LIMIT_PASSWORD": setting("RATE_LIMIT_PASSWORD", "5/15 minutes"),
        "RATE_LIMIT_EMAIL": setting("RATE_LIMIT_EMAIL", "5/minute;20/hour"),
        "CASHBACK_API_URL": setting("CASHBACK_API_URL", ""),
        "CASHBACK_API_TIMEOUT": _decimal("CASHBACK_API_TIMEOUT", setting("CASHBACK_API_TIMEOUT", "5")),
        "MAX_IMPORT_BYTES": number("MAX_IMPORT_BYTES", 1024**3),
        "IMPORT_SYNC_MAX_BYTES": number("IMPORT_SYNC_MAX_BYTES", 1024 * 1024),
        "IMPORT_DIR": setting("IMPORT_DIR", str(INSTANCE_DIR / "imports")),
        "IMPORT_REPORT_MAX_ERRORS": number("IMPORT_REPORT_MAX_ERRORS", 1000),
        "SIGNUP_BONUS_CASHBACK": _money("SIGNUP_BONUS_CASHBACK", setting("SIGNUP_BONUS_CASHBACK", "0.00")),
    }
    if settings["IMPORT_REPORT_MAX_ERRORS"] < 0:
        raise ConfigurationError("IMPORT_REPORT_MAX_ERRORS must be a whole number of at least 0")
    if settings["MAIL_BACKEND"] not in ("console", "smtp"):
        raise ConfigurationError(f"MAIL_BACKEND must be console or smtp, not {settings['MAIL_BACKEND']!r}")
    settings.update(overrides)
    return settings
