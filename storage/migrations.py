"""Schema creation and upgrades, safe when several workers start at once."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from storage.models import Base

# Any constant works; it only has to be the same in every qupost process.
_PG_LOCK_KEY = 0x71750057


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the current schema, creating it when empty."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            # Serialise schema creation across workers for this transaction.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            Base.metadata.create_all(conn)
        return
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                Base.metadata.create_all(conn)
            return
        except (OperationalError, ProgrammingError):
            # Another process created a table between the check and the CREATE.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))
