"""Hold the catalog against the output tree, and repair what can be repaired.

:func:`check_catalog` compares the ``posts`` rows with the post files under
``<source>/_posts`` and the stored images with the images folder, and reports
the catalog's own integrity.  It never writes to the catalog or the tree.

:func:`repair_catalog` brings them back in line: a post whose file is missing
is rendered again from its row (through the same writer as a crawl and an
export, so the bytes are the same); a post file without a row gets its row
back from the file's front matter and body, so a later crawl knows the
article and fetches it no more.  A SQLite catalog that is missing or
unreadable is moved aside and rebuilt from the tree.  Those post files are
never rewritten.

This is a plain library like the rest of ``storage/``: the ``scrapy catalog``
command passes it the configuration, including the map from tag names back to
channel ids.
"""

from __future__ import annotations

import email.utils
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from storage.article import Article
from storage.export import newest_posts
from storage.hexo import HexoWriter, RenderOptions, post_path, remove_stale_temp_files
from storage.repository import IMAGES, POSTS, Repository, StorageError

EXAMPLES = 5
_POST_NAME = re.compile(r"qupost-([0-9]{1,20})\.md")
# What SQLite leaves beside a catalog file; they belong to it and move with it.
_SIDE_FILES = ("-wal", "-shm", "-journal")


class PostFileError(ValueError):
    """A post file whose front matter or body cannot be read back into an article."""


@dataclass
class CheckReport:
    """What ``check_catalog`` found; every list is complete, sorted."""

    integrity: str
    """``ok``, or why the catalog cannot be trusted (missing, unreadable, quick_check's words)."""
    rows: int = 0
    post_files: int = 0
    rows_without_post: list[str] = field(default_factory=list)
    posts_without_row: list[str] = field(default_factory=list)
    images: int = 0
    images_missing: list[str] = field(default_factory=list)
    images_checked: bool = True

    @property
    def ok(self) -> bool:
        return (
            self.integrity == "ok"
            and not self.rows_without_post
            and not self.posts_without_row
            and not self.images_missing
        )

    def lines(self) -> list[str]:
        """One line per finding, then a summary line."""
        out = [
            _finding("rows without a post file", self.rows_without_post),
            _finding(
                "post files without a row",
                [f"_posts/qupost-{i}.md" for i in self.posts_without_row],
            ),
        ]
        if self.integrity != "ok":
            out.append("images: not checked (the catalog cannot be read)")
        elif self.images_checked:
            out.append(
                _finding("stored images missing from the images folder", self.images_missing)
            )
        else:
            out.append("images: not checked (the image store is not a local folder)")
        out.append(f"catalog integrity: {self.integrity}")
        problems = (
            len(self.rows_without_post)
            + len(self.posts_without_row)
            + len(self.images_missing)
            + (self.integrity != "ok")
        )
        if problems:
            out.append(
                f"summary: {problems} problem(s) in {self.rows} rows, {self.post_files} post "
                f"files, {self.images} stored images; run `qupost catalog --repair`"
            )
        else:
            out.append(
                f"summary: consistent: {self.rows} rows, {self.post_files} post files, "
                f"{self.images} stored images"
            )
        return out


@dataclass
class RepairReport:
    moved_aside: list[Path] = field(default_factory=list)
    created: bool = False
    rows_rebuilt: int = 0
    posts_rendered: int = 0
    unreadable_files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"moved aside: {p}" for p in self.moved_aside]
        if self.created:
            out.append("created a fresh catalog")
        out.append(f"rows rebuilt from post files: {self.rows_rebuilt}")
        out.append(f"posts rendered again from the catalog: {self.posts_rendered}")
        if self.unreadable_files:
            out.append(_finding("post files left alone (unreadable)", self.unreadable_files))
        return out


def _finding(label: str, items: list[str]) -> str:
    if not items:
        return f"{label}: 0"
    shown = ", ".join(items[:EXAMPLES])
    more = ", …" if len(items) > EXAMPLES else ""
    return f"{label}: {len(items)} (e.g. {shown}{more})"


# --- the catalog itself --------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The catalog file of a SQLite URL, or None for PostgreSQL and in-memory databases."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def catalog_integrity(url: str) -> str:
    """``ok``, or one line saying why the catalog cannot be used as it is.

    SQLite runs ``PRAGMA quick_check``; PostgreSQL only has to answer a query.
    Either must then be able to read the ``posts`` table.  A missing SQLite
    file is reported, not created.
    """
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return f"missing: no catalog file at {path}"
    try:
        repo = Repository.open(url, create=False)
    except StorageError as exc:
        return f"unreadable: {exc}"
    try:
        verdict = repo.quick_check()
        if verdict != ["ok"]:
            return "quick_check: " + "; ".join(verdict)[:300]
        with repo.reading() as tx:
            tx.conn.execute(select(POSTS.c.qupost_id).limit(1)).all()
    except (StorageError, SQLAlchemyError, sqlite3.Error) as exc:
        return f"unreadable: {' '.join(str(exc).split())[:300]}"
    finally:
        repo.close()
    return "ok"


def move_aside(path: Path, when: datetime) -> list[Path]:
    """Rename ``path`` (and its -wal/-shm files) to ``<name>.damaged-<timestamp>``."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while any(Path(f"{base}{s}").exists() for s in ("", *_SIDE_FILES)):
        base = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
        n += 1
    moved: list[Path] = []
    for suffix in ("", *_SIDE_FILES):
        source = Path(f"{path}{suffix}")
        if source.exists():
            target = Path(f"{base}{suffix}")
            source.rename(target)
            moved.append(target)
    return moved


# --- the tree ------------------------------------------------------------------------


def post_files(source_dir: Path) -> dict[str, Path]:
    """Every ``_posts/qupost-<id>.md`` under ``source_dir``, by id."""
    folder = source_dir / "_posts"
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in folder.iterdir():
        match = _POST_NAME.fullmatch(path.name)
        if match and path.is_file():
            found[match.group(1)] = path
    return found


def _rows(repo: Repository) -> dict[str, tuple[bool, bool]]:
    """Every stored id, with whether its post has a file under ``options``' policies."""
    with repo.reading() as tx:
        # A check runs on catalogs of any revision: older ones record no duplicates.
        columns = [POSTS.c.qupost_id, POSTS.c.deleted_at]
        if "duplicate_of" in {c["name"] for c in inspect(tx.conn).get_columns("posts")}:
            columns.append(POSTS.c.duplicate_of)
        rows = tx.conn.execute(select(*columns))
        return {
            str(r.qupost_id): (
                r.deleted_at is not None,
                getattr(r, "duplicate_of", None) is not None,
            )
            for r in rows
        }


def _expects_file(row: tuple[bool, bool], options: RenderOptions) -> bool:
    """Whether a post (deleted at the source?, a duplicate?) has a file: see ``hexo.omitted``."""
    deleted, duplicate = row
    return not (
        (deleted and options.on_deleted == "remove") or (duplicate and options.duplicates == "skip")
    )


def _in_tree(repo: Repository, keep_posts: int, options: RenderOptions) -> set[str] | None:
    """The ids the tree holds under ``QUPOST_KEEP_POSTS`` (None: every stored id)."""
    return set(newest_posts(repo, keep_posts, options)) if keep_posts else None


def check_catalog(
    url: str,
    source_dir: Path,
    images_dir: Path | None,
    options: RenderOptions,
    *,
    keep_posts: int = 0,
) -> CheckReport:
    """Compare the catalog with the post files and the images folder; change nothing.

    With ``keep_posts``, only the newest that many posts are expected in the tree.
    """
    files = post_files(source_dir)
    report = CheckReport(integrity=catalog_integrity(url), post_files=len(files))
    if report.integrity != "ok":
        report.posts_without_row = sorted(files, key=_id_order)
        report.images_checked = False
        return report
    repo = Repository.open(url, create=False)
    try:
        rows = _rows(repo)
        report.rows = len(rows)
        kept = _in_tree(repo, keep_posts, options)
        report.rows_without_post = sorted(
            (
                i
                for i, row in rows.items()
                if _expects_file(row, options) and (kept is None or i in kept) and i not in files
            ),
            key=_id_order,
        )
        report.posts_without_row = sorted((i for i in files if i not in rows), key=_id_order)
        if images_dir is None:
            report.images_checked = False
        else:
            with repo.reading() as tx:
                paths = list(
                    tx.conn.scalars(
                        select(IMAGES.c.path).where(
                            IMAGES.c.status == "stored", IMAGES.c.path.is_not(None)
                        )
                    )
                )
            report.images = len(paths)
            report.images_missing = sorted(p for p in paths if not (images_dir / p).is_file())
    finally:
        repo.close()
    return report


def _id_order(qupost_id: str) -> tuple[int, str]:
    return (len(qupost_id), qupost_id)


# --- reading a post file back ----------------------------------------------------------


def parse_date(value: Any, zone: tzinfo) -> datetime | None:
    """A front-matter ``date``: RFC 1123 or ISO 8601 (a naive time is in ``zone``), else None."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _channels(tags: Any, tag_ids: Mapping[str, int]) -> tuple[int, ...]:
    if not isinstance(tags, list):
        return ()
    ids: list[int] = []
    for tag in tags:
        name = str(tag).strip()
        cid = tag_ids.get(name)
        if cid is None and name.isdigit():
            cid = int(name)
        if cid is not None and cid not in ids:
            ids.append(cid)
    return tuple(ids)


def parse_post_file(
    path: Path, tag_ids: Mapping[str, int], options: RenderOptions, now: datetime
) -> Article:
    """Read a post file written by qupost back into the article it was rendered from.

    What the file does not say (image outcomes, the cover's origin URL, the
    date's source) is left empty; ``date_source`` is ``crawl``, the weakest,
    so a later listing may replace the date with a better one.
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PostFileError(f"{path.name}: cannot read: {exc}") from exc
    if not text.startswith("---\n"):
        raise PostFileError(f"{path.name}: no front matter")
    head, sep, rest = text[4:].partition("\n---\n")
    if not sep:
        raise PostFileError(f"{path.name}: front matter not closed")
    try:
        matter = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        raise PostFileError(f"{path.name}: front matter is not YAML") from exc
    if not isinstance(matter, dict):
        raise PostFileError(f"{path.name}: front matter is not a mapping")
    start, end = rest.find("<div>\n"), rest.rfind("\n</div>")
    if start < 0 or end < start + len("<div>"):
        raise PostFileError(f"{path.name}: no <div> body")
    body = rest[start + len("<div>\n") : end]
    qupost_id = str(matter.get("qupost_id", "")).strip()
    match = _POST_NAME.fullmatch(path.name)
    if not match or qupost_id != match.group(1):
        raise PostFileError(f"{path.name}: qupost_id {qupost_id!r} does not match the file name")
    published = parse_date(matter.get("date", ""), options.timezone)
    if published is None:
        published = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    updated = parse_date(matter["updated"], options.timezone) if "updated" in matter else None
    duplicate_of = matter.get("duplicate_of")
    return Article(
        qupost_id=qupost_id,
        original_url=str(matter.get("original_url") or ""),
        channels=_channels(matter.get("tags"), tag_ids),
        crawled_at=now,
        title=str(matter.get("title") or ""),
        author=str(matter.get("author") or ""),
        published_at=published,
        date_source="crawl",
        body_html=body,
        updated_at=updated,
        # A post is written with published: false when deleted at the source, or as a
        # marked duplicate; a duplicate also deleted comes back as not deleted.
        deleted_at=now if matter.get("published") is False and duplicate_of is None else None,
        duplicate_of=str(duplicate_of) if duplicate_of is not None else None,
    )


# --- repair --------------------------------------------------------------------------


def _open_for_repair(url: str, now: datetime, report: RepairReport) -> Repository:
    """The catalog, opened and upgraded; a damaged or missing SQLite file is replaced."""
    integrity = catalog_integrity(url)
    path = sqlite_file(url)
    if integrity != "ok":
        if path is None:
            raise StorageError(f"the catalog cannot be repaired in place: {integrity}")
        # A missing file's stray -wal would be replayed into the new file: move it too.
        report.moved_aside = move_aside(path, now)
        report.created = True
    return Repository.open(url)


def _rebuild_rows(
    repo: Repository,
    paths: Iterable[Path],
    tag_ids: Mapping[str, int],
    options: RenderOptions,
    now: datetime,
    report: RepairReport,
    batch: int = 200,
) -> None:
    articles: list[Article] = []
    for path in paths:
        try:
            articles.append(parse_post_file(path, tag_ids, options, now))
        except PostFileError:
            report.unreadable_files.append(f"_posts/{path.name}")
    for start in range(0, len(articles), batch):
        with repo.transaction() as tx:
            for article in articles[start : start + batch]:
                tx.upsert_article(article)
                extra = {"updated_at": article.updated_at, "deleted_at": article.deleted_at}
                extra = {k: v for k, v in extra.items() if v is not None}
                if extra:
                    tx.conn.execute(
                        update(POSTS).where(POSTS.c.qupost_id == article.qupost_id).values(extra)
                    )
                report.rows_rebuilt += 1


def repair_catalog(
    url: str,
    source_dir: Path,
    options: RenderOptions,
    tag_ids: Mapping[str, int],
    *,
    now: datetime | None = None,
    fsync: bool = False,
    keep_posts: int = 0,
) -> RepairReport:
    """Give post files without a row their row, and render rows without a file.

    With ``keep_posts``, only the newest that many posts are rendered back.

    Raises StorageError when the catalog cannot be opened or written (a
    PostgreSQL catalog that does not answer is not replaced).
    """
    now = now or datetime.now(UTC)
    report = RepairReport()
    repo = _open_for_repair(url, now, report)
    try:
        files = post_files(source_dir)
        rows = _rows(repo)
        orphans = [files[i] for i in sorted(files, key=_id_order) if i not in rows]
        _rebuild_rows(repo, orphans, tag_ids, options, now, report)
        kept = _in_tree(repo, keep_posts, options)
        missing = [
            i
            for i, row in _rows(repo).items()
            if _expects_file(row, options)
            and (kept is None or i in kept)
            and not post_path(source_dir, i).exists()
        ]
        if missing:
            remove_stale_temp_files(source_dir / "_posts")
            writer = HexoWriter(source_dir, options, fsync=fsync)
            for start in range(0, len(missing), 200):
                with repo.reading() as tx:
                    articles = [tx.load_article(i) for i in missing[start : start + 200]]
                for article in articles:
                    if article is not None and writer.write(article):
                        report.posts_rendered += 1
    finally:
        repo.close()
    return report
