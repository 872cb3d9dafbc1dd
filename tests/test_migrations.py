"""Alembic migrations: the first revision matches the models; old catalogs upgrade in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from storage.migrations import head_revision, upgrade_schema
from storage.models import Base
from storage.repository import Repository, make_engine


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade_schema(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []


def test_catalog_from_before_migrations_is_stamped_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    legacy = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(legacy)
    with legacy.begin() as conn:
        conn.exec_driver_sql("INSERT INTO post_channels (qupost_id, cid) VALUES ('1638625001', 1)")
    legacy.dispose()

    Repository.open(f"sqlite:///{path}").close()

    conn = sqlite3.connect(path)
    version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    kept = conn.execute("SELECT qupost_id, cid FROM post_channels").fetchall()
    conn.close()
    assert version == [(head_revision(),)]
    assert kept == [("1638625001", 1)]


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    Repository.open(url).close()
    Repository.open(url).close()
    conn = sqlite3.connect(tmp_path / "twice.db")
    assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    conn.close()
