"""Who is asking and from where, for the request being handled (set by the HTTP layer, read by the trail)."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a signed-in user or an API key."""

    kind: str  # "user" or "api-key"
    id: str
    pk: int
    role: str
    customer_pk: int | None = None
    session_id: str | None = None

    @property
    def label(self) -> str:
        """How the activity trail names this caller."""
        return f"{self.kind}:{self.id}"

    def may_see(self, customer_pk: int | None) -> bool:
        """Customers reach only the record their account is linked to; an absent link matches nothing."""
        if self.role != "customer":
            return True
        return self.customer_pk is not None and customer_pk is not None and self.customer_pk == customer_pk


request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)
# True while handling a request that should not write (GET): lets SQLite skip the write lock.
read_only_var: ContextVar[bool] = ContextVar("read_only", default=False)


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return request_id_var.get()


def current_principal() -> Principal | None:
    """The authenticated caller of the request being handled, if any."""
    return principal_var.get()
