"""Fixtures of the office hub's tests: one database per test, on SQLite and on PostgreSQL.

PostgreSQL is a throw-away server (initdb + pg_ctl in a temporary folder, loopback port) shared
by the session; tests on it skip only where Debian's postgresql binaries are absent.
"""

from __future__ import annotations

import pytest

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server():
    from appliance.hub.testing import TempPostgres, postgres_bin

    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (apt install postgresql)")
    server = TempPostgres().start()
    yield server
    server.stop()


@pytest.fixture(params=ENGINES)
def hub_db_url(request, tmp_path):
    """A fresh, empty hub database URL on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def hub_engine(hub_db_url):
    from appliance.hub.db import open_engine

    engine = open_engine(hub_db_url)
    yield engine
    engine.dispose()
