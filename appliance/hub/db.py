"""Engines and migrations: SQLite (default, one office) or PostgreSQL (a province).

``open_engine(url)`` makes the engine and brings the schema to the newest Alembic revision. On
SQLite it turns on WAL and a busy timeout so that two hub processes can share one file.
"""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from appliance.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=FULL")  # an answered bundle survives a power cut
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
    raise ConfigError("must be a sqlite:/// or postgresql+psycopg:// URL", key="hub.database_url")


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration not applied yet (safe to run from several processes)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":  # one migrator at a time
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(151515)")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            return
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.5)


def open_engine(url: str) -> Engine:
    try:
        engine = make_engine(url)
        migrate(engine)
    except OperationalError as exc:
        raise ConfigError(f"cannot open the database: {exc.orig}", key="hub.database_url") from None
    return engine
