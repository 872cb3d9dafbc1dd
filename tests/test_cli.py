"""The ``qupost`` command: any directory, every command strict about its options."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from crawler.cli import PROG, StrictOptions, command_names, main
from fakesite.server import FakeServer
from fakesite.site import build_site
from storage.repository import Repository
from tests.conftest import run_crawl, run_qupost, run_scrapy

# Options a command cannot run without, so the unknown one is what it meets.
REQUIRED = {"export": ["--to", "x"], "catalog": ["--check"]}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run main() in a temporary directory; its SCRAPY_SETTINGS_MODULE does not leak."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRAPY_SETTINGS_MODULE", raising=False)
    monkeypatch.setitem(PROG, "name", PROG["name"])
    return tmp_path


def exit_of(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    return int(stopped.value.code or 0)


def test_every_command_is_strict() -> None:
    names = command_names()
    assert {"crawl", "export", "demo", "seed", "migrate", "catalog", "runs", "fakesite"} <= set(
        names
    )
    for name in names:
        command = importlib.import_module(f"crawler.commands.{name}").Command
        assert issubclass(command, StrictOptions), name


@pytest.mark.parametrize("name", command_names())
def test_unknown_options_and_stray_arguments_are_one_line_and_exit_2(
    name: str, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    required = REQUIRED.get(name, [])
    assert exit_of([name, *required, "--bogus-option", "1"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"qupost: error: unknown option --bogus-option (see 'qupost {name} -h')"
    ], err
    stray = ["qupost", "stray"] if name == "crawl" else ["stray"]
    assert exit_of([name, *required, *stray]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"qupost: error: unexpected argument(s): stray (see 'qupost {name} -h')"
    ], err
    # Nothing was done: no catalog, no output folder.
    assert list(in_tmp.iterdir()) == []


def test_argparse_errors_are_one_line(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_of(["export"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "qupost: error: the following arguments are required: --to (see 'qupost export -h')"
    ]
    assert exit_of(["runs", "-n", "many"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "qupost: error: argument -n/--last: invalid int value: 'many' (see 'qupost runs -h')"
    ]


def test_commands_list_and_unknown_command(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_of([]) == 0
    listing = capsys.readouterr().out
    for name in command_names():
        assert re.search(rf"^  {name}\s+\S", listing, re.M), listing
    assert exit_of(["expor"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qupost: error: unknown command 'expor'; commands: ") and (
        len(err.splitlines()) == 1
    )


def test_scrapy_entry_point_refuses_unknown_options_too(tmp_path: Path) -> None:
    done = run_scrapy("export", "--to", str(tmp_path / "x"), "--bogus-option", "1")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "qupost: error: unknown option --bogus-option (see 'scrapy export -h')"
    ], done.stderr


@pytest.mark.e2e
def test_qupost_works_from_another_directory(tmp_path: Path) -> None:
    """Relative paths in settings and options land in the directory qupost is run from."""
    site = build_site(5, channels=(1,), images_per_article=1)
    assert not (tmp_path / "scrapy.cfg").exists()
    with FakeServer(site) as server:
        crawled = run_qupost(
            "crawl",
            "-a",
            "cid=1",
            cwd=tmp_path,
            QUPOST_LIST_API=server.list_api,
            QUPOST_PROFILE="fast",
            QUPOST_PROGRESS_INTERVAL=0,
        )
    assert crawled.returncode == 0, crawled.stderr[-3000:]
    posts = sorted(p.name for p in (tmp_path / "output" / "source" / "_posts").glob("*.md"))
    assert posts == sorted(f"qupost-{i}.md" for i in site.articles), crawled.stderr[-3000:]
    assert list((tmp_path / "output" / "source" / "images" / "qupost").rglob("*.jpeg"))

    exported = run_qupost("export", "--to", "blog", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert f"from the catalog {tmp_path / 'output' / 'qupost.db'}" in exported.stdout
    assert sorted(p.name for p in (tmp_path / "blog" / "_posts").glob("*.md")) == posts
    assert len(list((tmp_path / "blog" / "images" / "qupost").rglob("*.jpeg"))) == 5

    checked = run_qupost("catalog", "--check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    migrated = run_qupost("migrate", cwd=tmp_path)
    assert migrated.returncode == 0 and "sqlite:///output/qupost.db" in migrated.stdout
    runs = run_qupost("runs", cwd=tmp_path)
    assert runs.returncode == 0 and "5 " in runs.stdout.splitlines()[-1], runs.stdout


@pytest.mark.e2e
def test_export_names_its_sources_and_refuses_missing_or_empty_catalogs(tmp_path: Path) -> None:
    site = build_site(3, channels=(1,), images_per_article=2)
    out = tmp_path / "crawl"
    with FakeServer(site) as server:
        assert run_crawl(server, out, "cid=1").returncode == 0
    db = f"sqlite:///{out / 'qupost.db'}"

    # Only the catalog given: its images are found beside it, and named.
    only_url = run_qupost("export", "--to", "a", cwd=tmp_path, QUPOST_DATABASE_URL=db)
    assert only_url.returncode == 0, only_url.stderr
    assert only_url.stderr == ""
    assert only_url.stdout.splitlines()[0] == (
        f"qupost export: reading 3 posts from the catalog {out / 'qupost.db'}, "
        f"images from {out / 'source' / 'images' / 'qupost'}"
    )
    assert "6 images (6 linked, 0 copied, 0 missing)" in only_url.stdout

    # A wrong images folder is one line before anything is written.
    wrong = run_qupost(
        "export", "--to", "b", cwd=tmp_path, QUPOST_DATABASE_URL=db, QUPOST_SOURCE_DIR="nowhere"
    )
    assert wrong.returncode == 1
    assert len(wrong.stderr.splitlines()) == 1, wrong.stderr
    assert f"their folder {tmp_path / 'nowhere' / 'images' / 'qupost'} does not exist" in (
        wrong.stderr
    )
    assert not (tmp_path / "b").exists()

    # Missing image files: counted in one line, not one line each.
    for image in list((out / "source" / "images" / "qupost").rglob("*.jpeg"))[:2]:
        image.unlink()
    partial = run_qupost("export", "--to", "c", cwd=tmp_path, QUPOST_DATABASE_URL=db)
    assert partial.returncode == 1
    assert len(partial.stderr.splitlines()) == 1, partial.stderr
    assert partial.stderr.startswith("qupost export: 2 image file(s) missing from "), partial.stderr

    # No catalog at all: one line, exit 2, and no catalog file made.
    missing = run_qupost("export", "--to", "d", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"qupost: error: no catalog at {tmp_path / 'output' / 'qupost.db'} "
        "(QUPOST_DATABASE_URL=sqlite:///output/qupost.db); crawl first, or set "
        "QUPOST_DATABASE_URL to a crawl's catalog"
    ]
    assert not (tmp_path / "output").exists()

    # A catalog with no posts: one line, exit 1, not "0 posts".
    Repository.open(f"sqlite:///{tmp_path / 'empty.db'}").close()
    empty = run_qupost(
        "export", "--to", "e", cwd=tmp_path, QUPOST_DATABASE_URL="sqlite:///empty.db"
    )
    assert empty.returncode == 1
    assert empty.stderr.splitlines() == [
        f"qupost: error: the catalog {tmp_path / 'empty.db'} holds no posts; "
        "nothing to export (is it the crawl's?)"
    ]
    assert empty.stdout == ""
