"""Customer Interface: create_app() builds the service; `uvicorn app:app` and `python app.py` serve it."""

from functools import partial
from pathlib import Path

import connexion
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import Engine

from api.json_output import OrjsonJsonifier
from api.problems import register_problem_handlers
from api.request_context import BodySizeLimitMiddleware, RequestContextMiddleware, configure_logging
from api.validation import VALIDATOR_MAP
from config import load_settings
from models import db
from services.schema import MIGRATIONS_DIR, migrate_to_head

BASE_DIR = Path(__file__).resolve().parent
migrate = Migrate()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite: enforce foreign keys, let readers and a writer work together, wait on locks."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_app(overrides: dict | None = None) -> connexion.FlaskApp:
    """Build the service from the environment, with `overrides` taking precedence."""
    settings = load_settings(overrides)
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])

    app = connexion.FlaskApp(
        __name__,
        specification_dir=BASE_DIR,
        middlewares=[
            RequestContextMiddleware,
            ServerErrorMiddleware,
            ExceptionMiddleware,
            partial(BodySizeLimitMiddleware, max_bytes=settings["MAX_REQUEST_BYTES"]),
            SwaggerUIMiddleware,
            RoutingMiddleware,
            SecurityMiddleware,
            RequestValidationMiddleware,
            ResponseValidationMiddleware,
            LifespanMiddleware,
            ContextMiddleware,
        ],
        jsonifier=OrjsonJsonifier(),
        validator_map=VALIDATOR_MAP,
        strict_validation=True,
        validate_responses=settings["VALIDATE_RESPONSES"],
    )
    app.add_api(
        "swagger.yml",
        arguments={
            "page_size_default": settings["PAGE_SIZE_DEFAULT"],
            "page_size_max": settings["PAGE_SIZE_MAX"],
        },
    )
    app.app.config.update(settings)
    db.init_app(app.app)
    migrate.init_app(app.app, db, directory=str(MIGRATIONS_DIR))
    register_problem_handlers(app)

    if settings["AUTO_MIGRATE"]:
        with app.app.app_context():
            migrate_to_head()
    return app


_default_app: connexion.FlaskApp | None = None


def __getattr__(name: str):
    # The module-level `app` is built on first access, so importing create_app (tests, tools)
    # never builds an app against the default database.
    global _default_app
    if name in ("app", "application"):
        if _default_app is None:
            _default_app = create_app()
        # `flask --app app` looks for a Flask instance under `application`.
        return _default_app if name == "app" else _default_app.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    service = create_app()
    service.run(host=service.app.config["HOST"], port=service.app.config["PORT"])
