from pathlib import Path

import pytest

from mlmp_server.settings import Settings, SettingsError, parse_duration


def test_no_configuration_gives_a_working_embedded_default(tmp_path: Path):
    settings = Settings.from_env({"MP_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/marketplace.db"
    assert settings.uses_default_database
    assert (settings.grpc_addr, settings.http_addr) == ("127.0.0.1:50051", "127.0.0.1:3010")
    assert settings.introspection_ttl == 60.0


def test_production_refuses_to_start_without_its_secrets():
    with pytest.raises(SettingsError, match="MP_SECRET_KEY, MP_DATABASE_URL"):
        Settings.from_env({"MP_ENV": "production"})


def test_postgres_urls_are_normalised_to_psycopg3():
    settings = Settings.from_env({"MP_DATABASE_URL": "postgresql://u@db/mp", "MP_DATA_DIR": "/tmp/x"})
    assert settings.database_url == "postgresql+psycopg://u@db/mp"
    assert not settings.uses_default_database


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MP_GRPC_ADDR", "localhost", "HOST:PORT"),
        ("MP_INTROSPECTION_TTL", "soon", "not a duration"),
        ("MP_LOG_LEVEL", "chatty", "MP_LOG_LEVEL"),
        ("MP_DATABASE_URL", "mysql://x", "must start with"),
        ("MP_SECRET_KEY", "short", "at least 32"),
        ("MP_RATE_READ", "-1", "greater than 0"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})


def test_rate_limits_are_configurable():
    settings = Settings.from_env({"MP_RATE_WRITE": "2", "MP_RATE_WRITE_BURST": "3"})
    assert (settings.rate_limits["write"].per_second, settings.rate_limits["write"].burst) == (2.0, 3.0)
    assert settings.rate_limits["read"].per_second == 20.0


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1.5h", 5400), ("250ms", 0.25)])
def test_durations(text: str, seconds: float):
    assert parse_duration(text) == seconds


REPLICA_ENV = {
    "MP_MODE": "replica",
    "MP_DATABASE_URL": "postgresql://mp@db/mp",
    "MP_REDIS_URL": "redis://cache:6379/0",
    "MP_S3_BUCKET": "mp-files",
    "MP_SECRET_KEY": "k" * 40,
    "MP_DATA_DIR": "/tmp/x",
}


def test_replica_mode_with_its_parts():
    settings = Settings.from_env(REPLICA_ENV)
    assert settings.replica
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.s3 is not None
    assert settings.s3.bucket == "mp-files"
    assert not Settings.from_env({"MP_DATA_DIR": "/tmp/x"}).replica  # the embedded default stays single


def test_replica_mode_refuses_to_start_naming_every_missing_part():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MP_MODE": "replica"})
    message = str(refused.value)
    for name in ("MP_DATABASE_URL", "MP_REDIS_URL", "MP_S3_BUCKET", "MP_SECRET_KEY"):
        assert f"{name} is not set" in message
    assert "token digests" in message  # says why the secret key must be shared


@pytest.mark.parametrize("missing", ["MP_DATABASE_URL", "MP_REDIS_URL", "MP_S3_BUCKET", "MP_SECRET_KEY"])
def test_replica_mode_names_the_one_missing_part(missing: str):
    env = {k: v for k, v in REPLICA_ENV.items() if k != missing}
    with pytest.raises(SettingsError, match=f"refuses to start: {missing} is not set"):
        Settings.from_env(env)


def test_replica_mode_refuses_sqlite():
    with pytest.raises(SettingsError, match="MP_DATABASE_URL is sqlite, not PostgreSQL"):
        Settings.from_env({**REPLICA_ENV, "MP_DATABASE_URL": "sqlite:////tmp/x/mp.db"})


@pytest.mark.parametrize(("name", "value"), [("MP_MODE", "cluster"), ("MP_REDIS_URL", "http://cache:6379")])
def test_bad_replica_values_name_the_variable(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
