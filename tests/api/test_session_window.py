"""A process trusts a session it confirmed for SESSION_CHECK_SECONDS: changes made elsewhere count within it,
changes made by this process at once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, update

from models import User, UserSession
from models.types import utcnow
from services.sessions import confirmed_sessions


class Clock:
    """The cache's clock, moved by the test (the window is 2 s of it)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    moved = Clock()
    monkeypatch.setattr(confirmed_sessions, "clock", moved)
    return moved


@pytest.fixture
def elsewhere(database_url):
    """Run a statement on a connection of its own, as another process of the fleet would."""
    engine = create_engine(database_url)

    def run(statement) -> None:
        with engine.begin() as connection:
            connection.execute(statement)

    yield run
    engine.dispose()


def end_sessions_elsewhere(elsewhere, user) -> None:
    elsewhere(update(UserSession).where(UserSession.user_pk == user.pk).values(ended_at=utcnow()))


def test_a_session_ended_elsewhere_is_refused_once_the_window_passes(
    client_as, make_user, bearer_for, clock, elsewhere
):
    """Within 2 s of its last confirmation the ended session is still accepted; past them it is refused."""
    user = make_user("staff")
    client = client_as("admin")
    client.headers.update(bearer_for(user))
    assert client.get("/api/auth/me").status_code == 200
    end_sessions_elsewhere(elsewhere, user)
    clock.now += 1.9
    assert client.get("/api/auth/me").status_code == 200
    clock.now += 0.2
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "The session of this token has ended."


def test_a_role_changed_elsewhere_counts_once_the_window_passes(client_as, make_user, bearer_for, clock, elsewhere):
    """The role comes from the database: a demoted admin loses admin operations within the window."""
    admin = make_user("admin")
    client = client_as("staff")
    client.headers.update(bearer_for(admin))
    assert client.get("/api/users").status_code == 200
    elsewhere(update(User).where(User.pk == admin.pk).values(role="staff"))
    clock.now += 2.0
    assert client.get("/api/users").status_code == 403


def test_a_deactivation_by_this_process_is_refused_at_once(client_as, make_user, bearer_for, clock):
    """The process that deactivates a user, or ends a session, forgets its confirmations: no window."""
    staff = make_user("staff")
    staff_client = client_as("staff")
    staff_client.headers.update(bearer_for(staff))
    assert staff_client.get("/api/auth/me").status_code == 200
    admin = client_as("admin")
    assert admin.patch(f"/api/users/{staff.id}", json={"active": False}).status_code == 200
    assert staff_client.get("/api/auth/me").status_code == 401


def test_a_logout_is_refused_at_once(anon_client, client_as, make_user, bearer_for, clock):
    """POST /api/auth/logout ends the session for every later request, in this process at once."""
    user = make_user("staff")
    client = client_as("staff")
    client.headers.update(bearer_for(user))
    assert client.get("/api/auth/me").status_code == 200
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_with_no_window_every_request_asks(client_as, make_user, bearer_for, clock, elsewhere, use_settings):
    """SESSION_CHECK_SECONDS=0: a session ended elsewhere is refused at the very next request."""
    use_settings(session_check_seconds=Decimal(0))
    user = make_user("staff")
    client = client_as("staff")
    client.headers.update(bearer_for(user))
    assert client.get("/api/auth/me").status_code == 200
    end_sessions_elsewhere(elsewhere, user)
    assert client.get("/api/auth/me").status_code == 401


def test_a_confirmation_never_outlives_its_session(client_as, make_user, bearer_for, clock, elsewhere):
    """A session that expires within the window is not trusted past its own end."""
    user = make_user("staff")
    client = client_as("staff")
    client.headers.update(bearer_for(user))
    ends_soon = utcnow() + timedelta(seconds=1.5)
    elsewhere(update(UserSession).where(UserSession.user_pk == user.pk).values(expires_at=ends_soon))
    assert client.get("/api/auth/me").status_code == 200
    elsewhere(update(UserSession).where(UserSession.user_pk == user.pk).values(expires_at=utcnow()))
    clock.now += 1.6  # past the session's end (at most 1.5 s after its confirmation), within the 2 s window
    assert client.get("/api/auth/me").status_code == 401
