"""Alembic environment: runs on a connection handed in by mailbridge, or on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mailbridge.store.db import make_engine
from mailbridge.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("mailbridge migrations run online only: use `mailbridge db upgrade`")
run_migrations_online()
