from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from trader.settings import Environment, Settings, SettingsError, load_settings

STRONG = "k" * 40


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "database_url": "postgresql://trader@db:5432/trading_system",
        "redis_url": "redis://redis:6379/0",
        "broker": "simulated",
        "api_secret_key": STRONG,
        "api_token": "t" * 40,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_embedded_default_needs_nothing(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.uses_embedded_database
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.as_posix()}/trading_system.db"
    assert settings.redis_url == ""
    assert [settings.port_of(name) for name in ("data_collector", "maintenance_service")] == [8001, 8007]


def test_operators_write_plain_urls_and_get_async_drivers() -> None:
    settings = production()
    assert settings.database_url == "postgresql+asyncpg://trader@db:5432/trading_system"
    assert not settings.uses_embedded_database


def test_a_bad_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match="postgresql:// or sqlite:///"):
        Settings(_env_file=None, database_url="mysql://x")  # type: ignore[call-arg]


def test_production_accepts_strong_settings() -> None:
    assert production().environment is Environment.PRODUCTION


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_secret_key": None}, "API_SECRET_KEY is missing"),
        ({"api_secret_key": "short"}, "API_SECRET_KEY is shorter than 32"),
        (
            {"api_secret_key": "change-me-change-me-change-me-change-me"},
            "API_SECRET_KEY is still a placeholder",
        ),
        ({"api_token": "your_api_token_here_0123456789abcdef"}, "API_TOKEN is still a placeholder"),
        ({"database_url": ""}, "must point at PostgreSQL"),
        ({"redis_url": ""}, "REDIS_URL is required"),
        ({"broker": "alpaca"}, "needs ALPACA_API_KEY"),
    ],
)
def test_production_refuses_weak_settings(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        production(**overrides)


def test_secrets_never_show_in_the_settings_repr() -> None:
    text = repr(production())
    assert STRONG not in text and "t" * 40 not in text


def test_load_settings_reports_every_problem(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="unknown environment"):
        load_settings("moon")
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError, match="LOG_LEVEL must be"):
        load_settings("development")


def test_the_environment_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config" / "environments"
    config.mkdir(parents=True)
    (config / "staging.env").write_text("DATA_COLLECTOR_PORT=9101\nBROKER=simulated\n")
    monkeypatch.delenv("DATA_COLLECTOR_PORT", raising=False)
    settings = load_settings("staging")
    assert settings.environment is Environment.STAGING
    assert settings.data_collector_port == 9101
    # The process environment wins over the file.
    monkeypatch.setenv("DATA_COLLECTOR_PORT", "9201")
    assert load_settings("staging").data_collector_port == 9201


def test_the_shipped_environment_files_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    repository = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repository)
    assert load_settings("development").uses_embedded_database
    assert load_settings("staging").database_url.startswith("postgresql+asyncpg://")
    # Production example files carry no secrets, so they must be refused until secrets are set.
    with pytest.raises(SettingsError, match="API_SECRET_KEY is missing"):
        load_settings("production")
    monkeypatch.setenv("API_SECRET_KEY", STRONG)
    monkeypatch.setenv("API_TOKEN", "t" * 40)
    monkeypatch.setenv("ALPACA_API_KEY", "PK" + "0" * 18)
    monkeypatch.setenv("ALPACA_SECRET_KEY", "s" * 40)
    assert load_settings("production").environment is Environment.PRODUCTION


def test_an_accelerated_live_clock_needs_its_start_and_anchor_together_and_never_runs_production() -> None:
    with pytest.raises(ValueError, match="set together"):
        Settings(_env_file=None, live_clock_start="2024-11-29T14:30:00Z")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="time zone"):
        Settings(_env_file=None, live_clock_start="2024-11-29T14:30:00", live_clock_anchor=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="LIVE_CLOCK_START must be unset in production"):
        production(live_clock_start="2024-11-29T14:30:00Z", live_clock_anchor=1.0)
    new_york_open = "2024-11-29T09:30:00-05:00"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, live_clock_start=new_york_open, live_clock_anchor=1.0, live_clock_speed=60
    )
    assert settings.live_clock_start == datetime(2024, 11, 29, 14, 30, tzinfo=UTC)
