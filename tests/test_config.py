"""Settings come from the environment with safe defaults; production refuses unsafe ones; one typed, frozen object."""

import ast
import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from app import create_app
from config import BASE_DIR, ConfigurationError, Settings, load_settings


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
    assert settings.auto_migrate is False
    assert settings.validate_responses is False


def test_development_defaults(clean_env):
    """Development serves on 127.0.0.1:8000 against instance/customers.db and migrates at start-up."""
    settings = load_settings({"APP_ENV": "development", "SECRET_KEY": "k" * 32})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.database_url == f"sqlite:///{BASE_DIR / 'instance' / 'customers.db'}"
    assert settings.auto_migrate is True
    assert settings.page_size_default == 20
    assert settings.page_size_max == 100


def test_environment_variables_are_read(clean_env):
    """Each setting can be given in the environment."""
    clean_env.setenv("PORT", "9001")
    clean_env.setenv("HOST", "0.0.0.0")
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://u@db/customers")
    clean_env.setenv("SUPPORTED_LANGUAGES", "de, EN")
    settings = load_settings({"SECRET_KEY": "k" * 32})
    assert settings.port == 9001
    assert settings.public_base_url == "http://0.0.0.0:9001"
    assert settings.database_url == "postgresql+psycopg://u@db/customers"
    assert settings.supported_languages == frozenset({"de", "en"})


@pytest.mark.parametrize(
    ("default", "maximum"),
    [("0", "100"), ("101", "100"), ("20", "10")],
)
def test_inconsistent_page_sizes_are_refused(clean_env, default, maximum):
    """PAGE_SIZE_DEFAULT must lie between 1 and PAGE_SIZE_MAX."""
    with pytest.raises(ConfigurationError, match="PAGE_SIZE_DEFAULT"):
        load_settings({"SECRET_KEY": "k" * 32, "PAGE_SIZE_DEFAULT": default, "PAGE_SIZE_MAX": maximum})


@pytest.mark.parametrize(
    ("value", "message"), [("2.5", "at most 2"), ("-1", "a number of at least 0"), ("soon", "a number")]
)
def test_a_session_check_window_beyond_2_seconds_is_refused(clean_env, value, message):
    """SESSION_CHECK_SECONDS: how long a confirmed session is trusted, 0 to 2 seconds."""
    with pytest.raises(ConfigurationError, match=f"SESSION_CHECK_SECONDS must be {message}"):
        load_settings({"SECRET_KEY": "k" * 32, "SESSION_CHECK_SECONDS": value})
    assert load_settings({"SECRET_KEY": "k" * 32, "SESSION_CHECK_SECONDS": "1.5"}).session_check_seconds == Decimal(
        "1.5"
    )


def test_development_key_is_generated_once_and_kept(clean_env):
    """Without SECRET_KEY, development uses a key kept in instance/ so it survives restarts."""
    first = load_settings({"APP_ENV": "development"}).secret_key
    second = load_settings({"APP_ENV": "development"}).secret_key
    assert first == second
    assert len(first) >= 32


# --- one typed, frozen Settings -----------------------------------------------------------------------

BASE = {"APP_ENV": "test", "SECRET_KEY": "k" * 40, "DATABASE_URL": "sqlite://"}


def test_a_mistyped_override_name_stops_the_start_naming_it(clean_env):
    """An override that names no setting is refused at start-up, with the name it probably meant."""
    with pytest.raises(
        ConfigurationError, match="'PAGE_SIZE_DEFUALT' is not a setting; did you mean PAGE_SIZE_DEFAULT"
    ):
        create_app({**BASE, "PAGE_SIZE_DEFUALT": 5})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT must be a whole number, not 'eighty'"),
        ("PORT", 80.5, "PORT must be a whole number, not 80.5"),
        ("PAGE_SIZE_MAX", True, "PAGE_SIZE_MAX must be a whole number, not True"),
        ("AUTO_MIGRATE", "perhaps", "AUTO_MIGRATE must be true or false"),
        ("API_DOCS", 1, "API_DOCS must be true or false, not 1"),
        ("SIGNUP_BONUS_CASHBACK", 0.1, "SIGNUP_BONUS_CASHBACK must be a number, not 0.1"),
        ("CASHBACK_API_TIMEOUT", "-1", "CASHBACK_API_TIMEOUT must be a number of at least 0"),
        ("MAIL_FROM", 42, "MAIL_FROM must be text, not 42"),
        ("SUPPORTED_LANGUAGES", 7, "SUPPORTED_LANGUAGES must be a comma-separated list, not 7"),
    ],
)
def test_a_wrongly_typed_value_stops_the_start_naming_the_setting(clean_env, name, value, message):
    """An override (or environment value) that is not of the setting's type is refused by the setting's name."""
    with pytest.raises(ConfigurationError, match=message):
        create_app({**BASE, name: value})


def test_a_wrongly_typed_environment_value_is_named(clean_env):
    """The environment is checked alike."""
    clean_env.setenv("PAGE_SIZE_MAX", "lots")
    with pytest.raises(ConfigurationError, match="PAGE_SIZE_MAX must be a whole number, not 'lots'"):
        load_settings(BASE)


def test_overrides_may_be_text_or_of_the_setting_s_type(clean_env):
    """ "8001" and 8001, "false" and False, "1.50" and Decimal("1.50") give the same settings."""
    as_text = load_settings({**BASE, "PORT": "8001", "API_DOCS": "false", "SIGNUP_BONUS_CASHBACK": "1.5"})
    as_typed = load_settings({**BASE, "PORT": 8001, "API_DOCS": False, "SIGNUP_BONUS_CASHBACK": Decimal("1.50")})
    assert as_text == as_typed
    assert (as_text.port, as_text.api_docs, as_text.signup_bonus_cashback) == (8001, False, Decimal("1.50"))


def test_settings_are_frozen_and_a_replacement_is_checked_too(clean_env):
    """No attribute can be changed; dataclasses.replace builds a new object, checked like the first."""
    settings = load_settings(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.page_size_max = 5
    assert dataclasses.replace(settings, page_size_max=50).page_size_max == 50
    with pytest.raises(ConfigurationError, match="PAGE_SIZE_MAX must be a whole number"):
        dataclasses.replace(settings, page_size_max="50")
    with pytest.raises(ConfigurationError, match="PAGE_SIZE_DEFAULT must be between 1 and PAGE_SIZE_MAX"):
        dataclasses.replace(settings, page_size_max=10)


def test_every_setting_is_a_typed_attribute_named_as_its_variable(clean_env):
    """Each field has a declared type and can be given by its upper-case name."""
    settings = load_settings(
        {field.name.upper(): getattr(load_settings(BASE), field.name) for field in dataclasses.fields(Settings)}
    )
    assert settings == load_settings(BASE)


def test_the_app_keeps_one_settings_object_and_gives_flask_only_its_own_keys(clean_env):
    """The extensions get SECRET_KEY, TESTING and the SQLAlchemy keys; everything else stays on the Settings."""
    service = create_app({**BASE, "AUTO_MIGRATE": False, "PAGE_SIZE_MAX": 30})
    settings = service.app.extensions["settings"]
    assert isinstance(settings, Settings) and settings.page_size_max == 30
    assert service.app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"
    assert service.app.config["TESTING"] is True
    assert service.app.config["SECRET_KEY"] == "k" * 40
    assert "PAGE_SIZE_MAX" not in service.app.config


def test_each_app_context_sees_the_settings_of_its_own_app(clean_env):
    """Two apps in one process: services.settings answers with the app whose context is active."""
    from services.settings import current_settings

    first = create_app({**BASE, "AUTO_MIGRATE": False, "PAGE_SIZE_MAX": 30})
    second = create_app({**BASE, "AUTO_MIGRATE": False, "PAGE_SIZE_MAX": 40})
    with first.app.app_context():
        assert current_settings().page_size_max == 30
        with second.app.app_context():
            assert current_settings().page_size_max == 40
        assert current_settings().page_size_max == 30
    with pytest.raises(RuntimeError, match="no app context"):
        current_settings()


SERVICES = Path(__file__).resolve().parent.parent / "services"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_service_module_imports_flask():
    """services/ holds domain logic: no module there imports flask (or its extensions) or reads current_app."""
    offenders = {}
    for path in sorted(SERVICES.glob("*.py")):
        flask_imports = {m for m in _imported_modules(path) if m.split(".")[0].startswith("flask")}
        if flask_imports or "current_app" in path.read_text(encoding="utf-8"):
            offenders[path.name] = sorted(flask_imports) or ["current_app"]
    assert offenders == {}


def test_only_the_cross_cutting_services_read_the_bound_settings():
    """Services get their settings as arguments; only mail, the token codec, the cursor key and the background
    work (a task carries ids, not settings) read the accessor."""
    readers = {
        path.name
        for path in SERVICES.glob("*.py")
        if path.name != "settings.py" and "services.settings" in _imported_modules(path)
    }
    assert readers == {"mail.py", "sessions.py", "pagination.py", "tasks.py", "import_jobs.py"}


def test_the_signup_bonus_rounds_half_up_like_all_money():
    """SIGNUP_BONUS_CASHBACK=0.005 is a bonus of 0.01, not 0.00 (half-even would drop it)."""
    from decimal import Decimal

    from config import load_settings

    assert load_settings({"SIGNUP_BONUS_CASHBACK": "0.005", "SECRET_KEY": "k" * 40}).signup_bonus_cashback == Decimal(
        "0.01"
    )
