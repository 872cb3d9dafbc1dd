"""Database: hostile text is stored and read back exactly, through parameterised SQL only.

The decision on NUL (documented in docs/security.md):

- The crawl removes control characters, NUL included, from titles, authors
  and bodies before storage (``pipelines.clean``), and refuses URLs that hold
  any; so a crawl never hands NUL to the catalog, whatever the database.
- The repository itself stores what it is given: on SQLite a NUL round-trips
  exactly; PostgreSQL refuses it, and the repository reports that as one
  ``StorageError`` (the item is then not saved, counted and logged).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from fakesite.server import FakeServer
from fakesite.site import build_site
from storage.article import Article, ImageRecord, ImageRef
from storage.repository import Repository, StorageError
from tests.conftest import ROOT, read_article, run_crawl
from tests.hostile import assert_clean_run, assert_written

HOSTILE_TEXT = [
    "引号'单'\"双\"",
    "'); DROP TABLE posts; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM images WHERE ('1'='1",
    "%s %(name)s ? :name $1 {0}",
    "back\\slash \\x00 \\n",
    "表情😀👨‍👩‍👧‍👦 𠜎𠮷 \U0001f3f3\ufe0f\u200d\U0001f308",
    "零宽\u200b连接\u200d BOM\ufeff 替换\ufffd",
    "行\n换\r\n制表\t",
    "长" * 5000,
]
NUL_TEXT = "a\x00b\x00"


def post_input(qupost_id: str, text: str) -> Article:
    now = datetime(2021, 12, 4, 13, 49, 12, tzinfo=UTC)
    return Article(
        qupost_id=qupost_id,
        title=text,
        author=text,
        published_at=now,
        date_source="list",
        original_url=f"http://html2.qktoutiao.com/detail/2021/12/04/{qupost_id}.html",
        body_html=f"<p>{text}</p>",
        cover_url=f"http://static.1sapp.com/{text}.jpeg",
        image_refs=(ImageRef(f"http://static.1sapp.com/{text}/1.jpeg"),),
        channels=(1,),
        crawled_at=now,
    )


def capture_sql(repo: Repository) -> list[str]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(repo.engine, "before_cursor_execute", before)
    return statements


def round_trip(repo: Repository, texts: list[str]) -> None:
    statements = capture_sql(repo)
    for n, text in enumerate(texts):
        qupost_id = str(1638600000 + n)
        with repo.transaction() as tx:
            assert tx.upsert_article(post_input(qupost_id, text)) == "new"
        image = ImageRecord(
            url=f"http://static.1sapp.com/{text}.jpeg", status="failed", reason=text
        )
        with repo.transaction() as tx:
            tx.record_images([image], None, datetime(2021, 12, 5, 1, 0, tzinfo=UTC))
        stored = read_article(repo, qupost_id)
        assert stored is not None
        assert (stored.title, stored.author) == (text, text)
        assert stored.body_html == f"<p>{text}</p>"
        assert stored.cover_url == image.url
        assert repo.images_for([image.url]).get(image.url) == ImageRecord(
            url=image.url, status="failed", reason=text, run_id=None
        )
        assert stored.images == {image.url: image}
        with repo.transaction() as tx:
            assert tx.upsert_article(post_input(qupost_id, text)) == "unchanged"
    # The values travelled as parameters: not one of them is in the SQL text.
    for text in texts:
        needle = text[:20]
        assert not any(needle in statement for statement in statements), text
    with repo.transaction() as tx:
        assert len(list(tx.iter_post_ids(deleted=True))) == len(texts)


def test_hostile_text_round_trips_on_sqlite(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        round_trip(repo, HOSTILE_TEXT)
    finally:
        repo.close()
    # Plain SQLite agrees: the tables survived and hold the exact text.
    with sqlite3.connect(tmp_path / "catalog.db") as conn:
        titles = [r[0] for r in conn.execute("SELECT title FROM posts ORDER BY qupost_id")]
    assert titles == HOSTILE_TEXT


def test_sqlite_stores_nul_exactly_when_handed_one(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        round_trip(repo, [NUL_TEXT])
    finally:
        repo.close()


@pytest.fixture
def pg_repo(pg_url: str) -> Iterator[Repository]:
    repo = Repository.open(pg_url)
    try:
        yield repo
    finally:
        repo.close()


@pytest.mark.services
def test_hostile_text_round_trips_on_postgresql(pg_repo: Repository) -> None:
    round_trip(pg_repo, HOSTILE_TEXT)


@pytest.mark.services
def test_postgresql_refuses_nul_as_one_storage_error(pg_repo: Repository) -> None:
    with (
        pytest.raises(StorageError, match="cannot contain NUL") as caught,
        pg_repo.transaction() as tx,
    ):
        tx.upsert_article(post_input("1638600000", NUL_TEXT))
    assert "\n" not in str(caught.value)
    # Nothing half-written: the transaction rolled back.
    assert read_article(pg_repo, "1638600000") is None


@pytest.mark.e2e
def test_the_crawl_strips_nul_and_keeps_everything_else(tmp_path: Path) -> None:
    site = build_site(2, images_per_article=0, paragraphs=0)
    hostile, plain = (site.articles[i] for i in sorted(site.articles))
    hostile.title = "标题\x00'); DROP TABLE posts; --😀"
    hostile.source_name = '作者\x00\x07"引号"'
    hostile.body = [("p", "正文\x00\x1b[31m红色 ' \" 😀 %s ?")]
    plain.body = [("p", "普通正文")]
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path, "cid=1")
    assert_clean_run(result)
    assert_written(result, [hostile.id, plain.id])
    with sqlite3.connect(result.out / "qupost.db") as conn:
        title, author, body = conn.execute(
            "SELECT title, author, body_html FROM posts WHERE qupost_id = ?", (hostile.id,)
        ).fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert title == "标题'); DROP TABLE posts; --😀"
    assert author == '作者"引号"'
    assert body == "<p>正文[31m红色 ' \" 😀 %s ?</p>"
    assert {"posts", "images", "post_images", "runs"} <= tables
    matter, text = result.post(hostile.id)
    assert matter["title"] == title and matter["author"] == author
    assert "正文[31m红色 ' \" 😀 %s ?" in text


def test_no_sql_is_built_from_strings() -> None:
    """Every statement is SQLAlchemy Core or a constant: no formatting into SQL text."""
    formatted_sql = re.compile(
        r"""(exec_driver_sql|execute|text)\(\s*(f["']|["'][^"']*["']\s*(%|\.format))""",
        re.I,
    )
    offenders = []
    for folder in ("storage", "pipelines", "crawler"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if formatted_sql.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.e2e
def test_a_damaged_catalog_stops_the_run_before_it_does_harm(tmp_path: Path) -> None:
    from fakesite.server import FakeServer
    from fakesite.site import build_site

    site = build_site(30, images_per_article=1)
    with FakeServer(site) as server:
        first = run_crawl(server, tmp_path, "cid=1", "limit=30")
        assert first.returncode == 0, first.stderr[-3000:]
        before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.post_files()}
        db = tmp_path / "qupost.db"
        assert (
            not (tmp_path / "qupost.db-wal").exists()
            or (tmp_path / "qupost.db-wal").stat().st_size == 0
        )
        # Some pages damaged, the header intact: SQLite still opens the file.
        with db.open("r+b") as handle:
            for page in range(3, db.stat().st_size // 4096, 3):
                handle.seek(page * 4096 + 100)
                handle.write(bytes(range(256)) * 8)
        server.site.reset_log()
        for _ in range(2):
            again = run_crawl(server, tmp_path, "cid=1", "limit=30")
            assert again.returncode == 1, again.stderr[-3000:]
            lines = [line for line in again.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and "is damaged" in lines[0], lines
            assert "qupost catalog --repair" in lines[0]
        assert server.site.log == []
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first.post_files()}
    assert after == before
