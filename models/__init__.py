"""SQLAlchemy models and the Flask-SQLAlchemy extension they are bound through."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Constraint names are stable across SQLite and PostgreSQL, so migrations can name them
# and a unique violation can be traced back to the field it protects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# Models register on Base.metadata as they are imported.
from models.activity import Activity  # noqa: E402
from models.api_key import ApiKey  # noqa: E402
from models.customer import Customer  # noqa: E402
from models.import_job import ImportJob, ImportRowError  # noqa: E402
from models.mail import OutgoingMail  # noqa: E402
from models.order import Order, OrderItem  # noqa: E402
from models.rewards import LedgerEntry, ProductType, Tier  # noqa: E402
from models.sale import ErpSale, IdempotencyKey  # noqa: E402
from models.user import OneTimeToken, RefreshToken, User, UserSession  # noqa: E402

__all__ = [
    "Activity",
    "ApiKey",
    "Base",
    "Customer",
    "ErpSale",
    "IdempotencyKey",
    "ImportJob",
    "ImportRowError",
    "LedgerEntry",
    "OneTimeToken",
    "Order",
    "OrderItem",
    "OutgoingMail",
    "ProductType",
    "RefreshToken",
    "Tier",
    "User",
    "UserSession",
    "db",
]
