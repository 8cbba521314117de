"""Alembic environment: runs migrations on the Flask-SQLAlchemy engine of the current app."""

from alembic import context
from flask import current_app

from models import db
from models.types import UTCDateTime

config = context.config


def include_object(obj, name, type_, reflected, compare_to):
    """Compare only what the models own (SQLite keeps internal tables of its own)."""
    return not (type_ == "table" and name.startswith("sqlite_"))


def render_item(type_, obj, autogen_context):
    """Write the model's UTC timestamp type as the plain DateTime it stores."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations_offline():
    context.configure(
        url=str(db.engine.url).replace("%", "%%"),
        target_metadata=db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            include_object=include_object,
            render_item=render_item,
            **current_app.extensions["migrate"].configure_args,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
