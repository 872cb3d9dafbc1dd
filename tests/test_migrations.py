"""Alembic migrations: the revisions match the models; old catalogs upgrade in place."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from storage.migrations import (
    INITIAL_REVISION,
    SCHEMA_HEAD,
    alembic_config,
    current_revision,
    head_revision,
    is_current,
    upgrade_schema,
)
from storage.models import Base
from storage.repository import Repository, make_engine
from tests.conftest import ROOT


def upgrade_to(engine: Engine, revision: str) -> None:
    """Bring a catalog to ``revision`` exactly, as a qupost of that time left it."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def runs_columns(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("runs")}


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade_schema(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []


def test_catalog_from_before_migrations_is_stamped_and_kept(tmp_path: Path) -> None:
    # A catalog from before migrations has the tables of the first revision
    # (the ones qupost always created) and no alembic_version table.
    path = tmp_path / "old.db"
    legacy = make_engine(f"sqlite:///{path}")
    upgrade_to(legacy, INITIAL_REVISION)
    with legacy.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql(
            "INSERT INTO post_channels (qupost_id, cid) VALUES ('1638625001', 1)"
        )
    assert revision_of(legacy) is None
    assert "articles_skipped" not in runs_columns(legacy)
    legacy.dispose()

    Repository.open(f"sqlite:///{path}").close()

    conn = sqlite3.connect(path)
    version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    kept = conn.execute("SELECT qupost_id, cid FROM post_channels").fetchall()
    conn.close()
    assert version == [(head_revision(),)]
    assert kept == [("1638625001", 1)]
    engine = make_engine(f"sqlite:///{path}")
    assert "articles_skipped" in runs_columns(engine)
    engine.dispose()


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    Repository.open(url).close()
    Repository.open(url).close()
    conn = sqlite3.connect(tmp_path / "twice.db")
    assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    conn.close()


def test_schema_head_is_the_newest_revision() -> None:
    # Adding a revision without moving SCHEMA_HEAD would leave catalogs unmigrated.
    assert head_revision() == SCHEMA_HEAD


def test_a_current_catalog_opens_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    Repository.open(url).close()
    probe = (
        "import sys\n"
        "from storage.repository import Repository\n"
        f"Repository.open({url!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_an_older_revision_is_still_upgraded(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade_to(engine, "0001")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO runs (started_at, status, host, arguments, articles_listed, "
                "articles_new, articles_updated, articles_unchanged, articles_deleted, "
                "articles_failed, images_downloaded, images_failed) "
                "VALUES ('2021-12-05 01:00:00', 'finished', 'h', 'cid=1', 1, 1, 0, 0, 0, 0, 0, 0)"
            )
        assert revision_of(engine) == "0001"
        assert "articles_skipped" not in runs_columns(engine)
        with engine.connect() as conn:
            assert not is_current(conn)

        upgrade_schema(engine)

        assert revision_of(engine) == "0004" == SCHEMA_HEAD
        assert "articles_skipped" in runs_columns(engine)
        with engine.connect() as conn:
            assert is_current(conn)
            kept = conn.exec_driver_sql("SELECT host, articles_new, articles_skipped FROM runs")
            assert kept.all() == [("h", 1, 0)]
    finally:
        engine.dispose()


@pytest.mark.services
def test_an_older_revision_is_upgraded_on_postgresql(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        upgrade_to(engine, "0001")
        assert "articles_skipped" not in runs_columns(engine)
        upgrade_schema(engine)
        assert revision_of(engine) == "0004"
        assert "articles_skipped" in runs_columns(engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()
