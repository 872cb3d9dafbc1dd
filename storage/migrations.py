"""Schema migrations (Alembic), safe when several workers start at once.

``upgrade_schema`` brings any database to the newest revision: it creates an
empty one, stamps a catalog made before migrations existed (the first
revision matches the tables qupost always created), and applies whatever
revisions are newer.  ``scrapy migrate`` runs the same thing by hand.
"""

from __future__ import annotations

import functools
import tempfile
import time
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(__file__).resolve().parent / "alembic"
INITIAL_REVISION = "0001"
# The newest revision in storage/alembic/versions (a test checks it against
# Alembic's own view). A catalog already there is opened without importing
# Alembic, which takes about 0.4 s of every start.
SCHEMA_HEAD = "0004"
# Any constant works; it only has to be the same in every qupost process.
_PG_LOCK_KEY = 0x71750057


@functools.cache
def script_location() -> str:
    """The migration scripts folder, unpacked first when qupost runs from a zipped egg (Scrapyd)."""
    if SCRIPTS.is_dir():
        return str(SCRIPTS)
    target = Path(tempfile.mkdtemp(prefix="qupost-alembic-"))
    _copy_tree(resources.files("storage") / "alembic", target)
    return str(target)


def _copy_tree(source: Traversable, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        elif entry.name.endswith((".py", ".mako")):
            (target / entry.name).write_bytes(entry.read_bytes())


def alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", script_location())
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", script_location())
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def is_current(connection: Connection) -> bool:
    """Whether the catalog is at ``SCHEMA_HEAD``: one read, no Alembic."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return list(versions) == [SCHEMA_HEAD]


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config(connection)
    if current_revision(connection) is None and inspect(connection).has_table("posts"):
        # A catalog from before migrations: its tables are revision 0001's.
        command.stamp(config, INITIAL_REVISION)
    command.upgrade(config, "head")


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest schema revision, creating it when empty."""
    with engine.connect() as conn:
        if is_current(conn):
            return
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # Serialises migrations across workers until this transaction ends.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            _upgrade(conn)
        return
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                _upgrade(conn)
            return
        except OperationalError:
            # Another process created a table between the check and the CREATE.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
