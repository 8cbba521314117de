"""Settings come from the environment with safe defaults; production refuses unsafe ones."""

import pytest

from app import create_app
from config import BASE_DIR, ConfigurationError, load_settings


@pytest.fixture
def clean_env(monkeypatch):
    """No configuration variables inherited from the shell running the tests."""
    for name in (
        "APP_ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "AUTO_MIGRATE",
        "HOST",
        "PORT",
        "PUBLIC_BASE_URL",
        "VALIDATE_RESPONSES",
        "PAGE_SIZE_DEFAULT",
        "PAGE_SIZE_MAX",
        "SUPPORTED_LANGUAGES",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key(clean_env):
    """APP_ENV=production with no SECRET_KEY stops the service at start-up."""
    clean_env.setenv("APP_ENV", "production")
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app({"DATABASE_URL": "sqlite://"})


def test_production_refuses_a_short_secret_key(clean_env):
    """A signing key under 32 bytes is refused in production."""
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_settings({"APP_ENV": "production", "SECRET_KEY": "short"})


def test_unknown_environment_is_refused(clean_env):
    """APP_ENV must name a known environment."""
    clean_env.setenv("APP_ENV", "staging")
    with pytest.raises(ConfigurationError, match="APP_ENV"):
        load_settings()


def test_production_defaults_are_safe(clean_env):
    """Production does not migrate on its own and does not validate responses."""
    settings = load_settings({"APP_ENV": "production", "SECRET_KEY": "k" * 32})
    assert settings["AUTO_MIGRATE"] is False
    assert settings["VALIDATE_RESPONSES"] is False


def test_development_defaults(clean_env):
    """Development serves on 127.0.0.1:8000 against instance/customers.db and migrates at start-up."""
    settings = load_settings({"APP_ENV": "development", "SECRET_KEY": "k" * 32})
    assert settings["HOST"] == "127.0.0.1"
    assert settings["PORT"] == 8000
    assert settings["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{BASE_DIR / 'instance' / 'customers.db'}"
    assert settings["AUTO_MIGRATE"] is True
    assert settings["PAGE_SIZE_DEFAULT"] == 20
    assert settings["PAGE_SIZE_MAX"] == 100


def test_environment_variables_are_read(clean_env):
    """Each setting can be given in the environment."""
    clean_env.setenv("PORT", "9001")
    clean_env.setenv("HOST", "0.0.0.0")
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://u@db/customers")
    clean_env.setenv("SUPPORTED_LANGUAGES", "de, EN")
    settings = load_settings({"SECRET_KEY": "k" * 32})
    assert settings["PORT"] == 9001
    assert settings["PUBLIC_BASE_URL"] == "http://0.0.0.0:9001"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/customers"
    assert settings["SUPPORTED_LANGUAGES"] == frozenset({"de", "en"})


@pytest.mark.parametrize(
    ("default", "maximum"),
    [("0", "100"), ("101", "100"), ("20", "10")],
)
def test_inconsistent_page_sizes_are_refused(clean_env, default, maximum):
    """PAGE_SIZE_DEFAULT must lie between 1 and PAGE_SIZE_MAX."""
    with pytest.raises(ConfigurationError, match="PAGE_SIZE_DEFAULT"):
        load_settings({"SECRET_KEY": "k" * 32, "PAGE_SIZE_DEFAULT": default, "PAGE_SIZE_MAX": maximum})


def test_development_key_is_generated_once_and_kept(clean_env):
    """Without SECRET_KEY, development uses a key kept in instance/ so it survives restarts."""
    first = load_settings({"APP_ENV": "development"})["SECRET_KEY"]
    second = load_settings({"APP_ENV": "development"})["SECRET_KEY"]
    assert first == second
    assert len(first) >= 32
