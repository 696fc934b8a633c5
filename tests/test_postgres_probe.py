"""Where the PostgreSQL tests find their server: MP_TEST_POSTGRES_URL when set, else 127.0.0.1:5432, else a
throwaway cluster, started even when the tests run as root."""

from __future__ import annotations

import psycopg
import pytest

from mlmp_cli.serving.local import free_port
from tests.helpers import postgres
from tests.helpers.postgres import PostgresUnavailable, postgres_server


def test_a_chosen_server_that_takes_no_connection_is_reported_not_replaced(monkeypatch: pytest.MonkeyPatch):
    chosen = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setenv("MP_TEST_POSTGRES_URL", chosen)
    with pytest.raises(PostgresUnavailable) as refused, postgres_server():
        pass
    message = str(refused.value)
    assert message.startswith(f"MP_TEST_POSTGRES_URL ({chosen.replace(':secret@', ':***@')}) takes no connection: ")
    assert "secret" not in message


@pytest.mark.postgres
def test_the_url_form_mp_server_takes_is_accepted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MP_TEST_POSTGRES_URL", postgres.DEFAULT_URL.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with postgres_server() as url:
            assert url == postgres.DEFAULT_URL
    except PostgresUnavailable as error:
        pytest.skip(f"no PostgreSQL at {postgres.DEFAULT_URL}: {error}")


@pytest.mark.postgres
def test_without_a_server_a_throwaway_cluster_starts_even_as_root(monkeypatch: pytest.MonkeyPatch):
    if postgres._initdb_binaries() is None:
        pytest.skip("no initdb binaries here")
    monkeypatch.delenv("MP_TEST_POSTGRES_URL", raising=False)
    monkeypatch.setattr(postgres, "DEFAULT_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    with postgres_server() as url:
        assert url != postgres.DEFAULT_URL
        with psycopg.connect(url) as connection:
            assert connection.execute("select 1").fetchone() == (1,)
