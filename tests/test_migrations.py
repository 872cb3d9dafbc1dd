"""Alembic migrations: the first revision matches the models; old catalogs upgrade in place."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from storage.migrations import SCHEMA_HEAD, head_revision, is_current, upgrade_schema
from storage.models import Base
from storage.repository import Repository, make_engine
from tests.conftest import ROOT


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
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Repository.open(url).close()
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("UPDATE alembic_version SET version_num = 'stale'")
    conn.commit()
    conn.close()
    engine = make_engine(url)
    with engine.connect() as connection:
        assert not is_current(connection)
    engine.dispose()
