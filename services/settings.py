"""The one accessor of the settings of the app being served, for code running in its requests, commands and jobs.

create_app stores one frozen Settings in `flask_app.extensions["settings"]` and binds it here whenever an app
context of that app is pushed (a request, a CLI command, `with app.app_context()`), restoring the outer one when
it is popped. It is a context variable, not a plain module global: one process may hold several apps (tests
build apps with other keys, limits and mail servers), and each context sees the app it runs in.

Handlers (api/, web/) and commands (cli.py) call current_settings() and pass services what they need as
arguments. Inside services/ only the cross-cutting needs read it: mail delivery (services.mail), the token
codec (services.sessions), the cursor signing key (services.pagination) and background work (services.tasks,
services.import_jobs: a queued task carries ids, and reads the settings of the app it runs in). Nothing here
imports flask.
"""

from contextvars import ContextVar

from config import Settings

_bound: ContextVar[Settings | None] = ContextVar("settings", default=None)


def current_settings() -> Settings:
    """The settings of the app whose context is active."""
    settings = _bound.get()
    if settings is None:
        raise RuntimeError("no app context is active: settings are bound when one of the app's contexts is pushed")
    return settings


def bind_settings(settings: Settings | None) -> None:
    """Make `settings` the ones current_settings() answers in this context (None: no app is active)."""
    _bound.set(settings)
