"""Customer Interface: create_app() builds the service; `uvicorn app:app` and `python app.py` serve it."""

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import connexion
import yaml
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIAPI, SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from flask import current_app, has_app_context
from flask.sessions import SessionInterface
from flask.signals import appcontext_popped, appcontext_pushed
from flask_migrate import Migrate, upgrade
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from api import metrics as metrics_api
from api.operations import prepare_operations
from api.problems import database_cause, database_unavailable, register_problem_handlers
from api.request_context import (
    BodySizeLimitMiddleware,
    OperationRequiredMiddleware,
    RequestContextMiddleware,
    configure_logging,
)
from api.responses import OrjsonJsonifier
from api.security import SECURITY_MAP, authorize_request, operation_roles
from api.validation import VALIDATOR_MAP, UploadRequest
from cli import register_commands
from config import ConfigurationError, Settings, load_settings
from models import db
from services import tasks
from services.bootstrap import create_first_admin
from services.context import read_only_var
from services.error_reports import start_error_reports
from services.errors import Unavailable
from services.rate_limits import RateLimits
from services.schema import MIGRATIONS_DIR, migrate_to_head
from services.sessions import codec_for
from services.settings import bind_settings
from services.tokens import TokenCodec
from web.account_pages import pages as account_pages
from web.console import console
from web.security_headers import SecurityHeadersMiddleware
from web.static_files import register_static_files
from web.wsgi_bridge import HANDLER_THREADS, WSGIBridge

BASE_DIR = Path(__file__).resolve().parent
# Each has its rule in the setting RATE_LIMIT_<NAME> (settings.rate_limit_<name>).
RATE_LIMITED = ("login", "signup", "reset", "refresh", "password", "email")
# Answers and pages that carry a token or an API key: no browser or proxy may keep a copy.
SECRET_PATHS = frozenset({"/api/auth/login", "/api/auth/refresh", "/api/api-keys", "/verify", "/reset"})
migrate = Migrate()


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite: enforce foreign keys, let readers and a writer work together, wait on locks."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # SQLite's lower() folds ASCII only; names like "Álvaro" need Unicode case folding for `q`.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    # Transactions are begun by _sqlite_begin below, not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    """SQLite: a transaction that may write takes the write lock up front (BEGIN IMMEDIATE).

    A transaction that reads first and writes later cannot wait for another writer under WAL: it fails
    at once ("database is locked"). Taking the lock at BEGIN makes concurrent writers queue instead.
    Read-only requests (GET) begin nothing: each statement reads its own snapshot, never waiting on
    writers, as each does under PostgreSQL's READ COMMITTED.
    """
    if connection.dialect.name == "sqlite" and not read_only_var.get():
        # Straight to the driver: the statement needs none of SQLAlchemy's execution machinery.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")


def served_specification(settings: Settings) -> dict:
    """swagger.yml as it is, with this service's settings filled in where the spec states them."""
    with open(BASE_DIR / "swagger.yml", encoding="utf-8") as spec_file:
        # libyaml's loader when PyYAML has it: the same document, about ten times faster (every start reads it).
        specification = yaml.load(spec_file, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    limit = specification["components"]["parameters"]["Limit"]["schema"]
    limit.update(maximum=settings.page_size_max, default=settings.page_size_default)
    return specification


class _SpecAsWrittenAPI(SwaggerUIAPI):
    """Serves the spec as written, its components and `$ref`s kept, for client generators and readers.

    Connexion serves the spec it routes and validates with, every `$ref` resolved in place (no named model
    is left); that resolved spec still does the routing and validation.
    """

    def _spec_for_prefix(self, request) -> dict:
        base_path = self._base_path_for_prefix(request)
        cached = getattr(self, "_as_written", None)
        if cached is None or cached[0] != base_path:
            # with_base_path sets `servers` in the raw spec too, as Connexion does for the resolved one.
            cached = self._as_written = (base_path, self.specification.with_base_path(base_path).raw)
        return cached[1]


class SpecAsWrittenMiddleware(SwaggerUIMiddleware):
    """Connexion's Swagger UI and spec routes (off with API_DOCS=false), the spec served as written."""

    docs_prefixes: tuple[str, ...] = ()

    def add_api(self, specification, base_path=None, arguments=None, **kwargs) -> None:
        api = _SpecAsWrittenAPI(
            specification, base_path=base_path, arguments=arguments, default=self.default_fn, **kwargs
        )
        self.router.mount(api.base_path, app=api.router)
        spec_path = api.options.openapi_spec_path.removesuffix("json")  # openapi.json and openapi.yaml
        ui_path = api.options.swagger_ui_path.rstrip("/")
        self.docs_prefixes += (f"{api.base_path}{spec_path}", f"{api.base_path}{ui_path}")

    async def __call__(self, scope, receive, send) -> None:
        # Every other request goes straight on: routing it through the docs' mount first costs each one.
        if scope["type"] == "http" and not scope["path"].startswith(self.docs_prefixes):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _bind_app_settings(flask_app, **_signal) -> None:
    """One of this app's contexts was pushed: its Settings are the ones services.settings answers."""
    bind_settings(flask_app.extensions["settings"])


def _bind_outer_settings(_flask_app, **_signal) -> None:
    """One of this app's contexts was popped: the app context around it, if any, is current again."""
    bind_settings(current_app.extensions.get("settings") if has_app_context() else None)


def create_app(overrides: dict | None = None) -> connexion.FlaskApp:
    """Build the service from the environment, with `overrides` taking precedence."""
    settings = load_settings(overrides)
    configure_logging(settings.log_level, settings.log_format)
    start_error_reports(settings.sentry_dsn, settings.sentry_environment or settings.app_env)
    token_codec = codec_for(settings)
    specification = served_specification(settings)

    @asynccontextmanager
    async def lifespan(_middleware):
        """While serving, the embedded queue consumer runs (QUEUE_EMBEDDED); it stops when serving ends."""
        consumer = tasks.start_embedded(settings, app.app.app_context) if settings.queue_embedded else None
        try:
            yield
        finally:
            if consumer is not None:
                # Off the event loop: running tasks get a few seconds to finish.
                await asyncio.to_thread(tasks.stop_embedded, consumer)

    app = connexion.FlaskApp(
        __name__,
        lifespan=lifespan,
        specification_dir=BASE_DIR,
        middlewares=_middlewares(settings, token_codec, _base_path(specification)),
        jsonifier=OrjsonJsonifier(),
        validator_map=VALIDATOR_MAP,
        strict_validation=True,
        pythonic_params=True,  # `from` becomes `from_` in handlers
        validate_responses=settings.validate_responses,
        security_map=SECURITY_MAP,
    )
    # Connexion's own bridge to Flask (a2wsgi) is replaced by one that hops to a thread once per request.
    app._middleware_app.asgi_app = WSGIBridge(app.app, threads=HANDLER_THREADS)  # noqa: SLF001
    docs = settings.api_docs
    app.add_api(specification, swagger_ui_options=SwaggerUIOptions(serve_spec=docs, swagger_ui=docs))
    register_problem_handlers(app, specification)
    prepare_operations(app.app)
    _configure_flask(app.app, settings, token_codec, operation_roles(specification))
    if settings.auto_migrate:
        _migrate_at_start(app.app, settings)
    return app


def _base_path(specification: dict) -> str:
    return specification["servers"][0]["url"].rstrip("/")


def _middlewares(settings: Settings, token_codec: TokenCodec, base_path: str) -> list:
    """The ASGI stack, outermost first."""
    return [
        partial(RequestContextMiddleware, state={"token_codec": token_codec}, trusted_proxies=settings.trusted_proxies),
        # Outside the error handlers, so their answers carry the headers too.
        partial(
            SecurityHeadersMiddleware,
            no_store_paths=SECRET_PATHS,
            docs_prefix=f"{base_path}/ui/",
            hsts=settings.production and settings.public_base_url.startswith("https://"),
        ),
        ServerErrorMiddleware,
        ExceptionMiddleware,
        partial(
            BodySizeLimitMiddleware,
            max_bytes=settings.max_request_bytes,
            larger={"/api/customers/import": settings.max_import_bytes},
        ),
        SpecAsWrittenMiddleware,
        RoutingMiddleware,
        partial(OperationRequiredMiddleware, base_path=base_path),
        SecurityMiddleware,
        RequestValidationMiddleware,
        # Off in production it would still route every request again, for nothing.
        *([ResponseValidationMiddleware] if settings.validate_responses else []),
        LifespanMiddleware,
        ContextMiddleware,
    ]


class _NoCookieSessions(SessionInterface):
    """The service keeps nothing in Flask's cookie session: no request opens or signs one."""

    def open_session(self, app, request):
        return None  # Flask then hands out its empty NullSession

    def save_session(self, app, session, response) -> None:
        return None


def _configure_flask(flask_app, settings: Settings, token_codec: TokenCodec, roles: dict) -> None:
    """Bind the settings, extensions, role checks, commands and pages to the Flask app."""
    flask_app.request_class = UploadRequest
    flask_app.session_interface = _NoCookieSessions()
    register_static_files(flask_app)
    flask_app.config.update(settings.flask_config())
    flask_app.extensions["settings"] = settings
    appcontext_pushed.connect(_bind_app_settings, flask_app)
    appcontext_popped.connect(_bind_outer_settings, flask_app)
    flask_app.extensions["token_codec"] = token_codec
    flask_app.extensions["rate_limits"] = RateLimits(
        settings.rate_limit_storage_url,
        {name: getattr(settings, f"rate_limit_{name}") for name in RATE_LIMITED},
    )
    db.init_app(flask_app)
    migrate.init_app(flask_app, db, directory=str(MIGRATIONS_DIR))
    flask_app.before_request(partial(authorize_request, roles))
    register_commands(flask_app)
    flask_app.register_blueprint(account_pages)
    flask_app.register_blueprint(console)
    # Where Prometheus looks by default: the same answer as GET /api/metrics (the token too).
    flask_app.add_url_rule("/metrics", "metrics", metrics_api.metrics)


def _migrate_at_start(flask_app, settings: Settings) -> None:
    """AUTO_MIGRATE: bring the database to head (and, in development, make the first admin).

    A database that does not answer (within DATABASE_CONNECT_TIMEOUT) refuses the start with Unavailable.
    """
    with flask_app.app_context():
        try:
            migrate_to_head(partial(upgrade, directory=str(MIGRATIONS_DIR)))
            if settings.app_env == "development":
                create_first_admin()
        except SQLAlchemyError as error:
            if not database_unavailable(error):
                raise
            raise Unavailable(f"the database does not answer: {database_cause(error)}") from None


_default_app: connexion.FlaskApp | None = None
# The exit status of a server that cannot start: gunicorn's master then halts (its WORKER_BOOT_ERROR) and
# uvicorn's supervisor stops (its STARTUP_FAILURE), instead of starting the worker again and again.
STARTUP_FAILURE = 3


def _app_or_exit() -> connexion.FlaskApp:
    """create_app(); a setting or a database that refuses the start logs one line and exits the whole server."""
    try:
        return create_app()
    except (ConfigurationError, Unavailable) as error:
        logging.getLogger(__name__).critical("cannot start: %s", error)
        _stop_uvicorn_supervisor()
        raise SystemExit(STARTUP_FAILURE) from None


def _stop_uvicorn_supervisor() -> None:
    """In a worker of `uvicorn --workers N`, end the supervisor, so the server exits with a failure status.

    Uvicorn's supervisor stops when a worker exits with STARTUP_FAILURE, but then exits with status 0 (and
    catches SIGTERM and SIGINT to do just that); a service manager would take that for a clean stop. Its other
    workers refuse the same settings and exit by themselves.
    """
    parent = multiprocessing.parent_process()
    if parent is not None and "uvicorn.supervisors" in sys.modules:
        with suppress(ProcessLookupError):  # another worker ended it first
            os.kill(parent.pid, signal.SIGKILL)


def __getattr__(name: str):
    # The module-level `app` is built on first access, so importing create_app (tests, tools)
    # never builds an app against the default database.
    global _default_app
    if name in ("app", "application"):
        if _default_app is None:
            _default_app = _app_or_exit()
        # `flask --app app` looks for a Flask instance under `application`.
        return _default_app if name == "app" else _default_app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    service = _app_or_exit()
    # log_config=None keeps the service's own log format instead of uvicorn's. proxy_headers=False:
    # the app alone decides which X-Forwarded-For to believe (TRUSTED_PROXIES).
    served = service.app.extensions["settings"]
    service.run(host=served.host, port=served.port, log_config=None, proxy_headers=False)
