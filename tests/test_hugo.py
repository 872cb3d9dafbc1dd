"""Real Hugo: a crawled catalog exported with ``--target hugo`` and built by ``hugo``.

The site is the minimal Hugo site the README documents (``docs/hugo/``: its
``hugo.toml`` and three layouts), copied into a temporary folder; ``scrapy
export --to SITE --target hugo`` writes ``content/posts/`` and ``static/images/``
into it, and the real ``hugo`` (Debian's package, installed by ``.ci/hugo``)
builds ``public/``.

The crawl covers generated articles, the seed article, titles that YAML reads
as something other than text, bodies and a summary full of Hugo, Go-template
and Markdown syntax, the hostile HTML of ``tests/test_hostile_html.py``, one
image shared by two articles, and a refresh that changes one article and finds
another deleted at the source.

The tests skip, with the reason, only when ``hugo`` is not installed, and fail
instead under ``QUPOST_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from PIL import Image

from crawler.channels import CHANNELS
from fakesite.seed import SEED_ID, add_seed_article
from fakesite.server import FakeServer
from fakesite.site import FakeArticle, FakeSite, build_site
from storage.article import Article
from storage.repository import Repository
from tests.conftest import (
    ROOT,
    CrawlResult,
    export_catalog,
    read_article,
    run_crawl,
    skip_or_fail,
    split_post,
)
from tests.html_pages import expected_title, one, parse, text_of
from tests.test_hostile_html import VECTORS, executable_parts

pytestmark = pytest.mark.hugo

SITE_TEMPLATE = ROOT / "docs" / "hugo"
SITE_TITLE = "qupost blog"  # docs/hugo/hugo.toml
BASE_URL = "https://example.com/"  # docs/hugo/hugo.toml
BEIJING = ZoneInfo("Asia/Shanghai")  # QUPOST_TIMEZONE's default: the dates' offset
CATEGORIES = ["新媒体", "趣头条", "分类"]
MACHINE_TZS = ("UTC", "America/New_York")

TEMPLATE_ID = "1638700101"
TEMPLATE_TITLE = (
    '{{ .Title }} {{< figure src="/x.png" >}} {{% nosuch %}} *快讯* & 标题: #不是注释 '
    "“引号” 'single' \"double\" ''两个单引号'' <b>粗</b> | / 100%"
)
TEMPLATE_TEXT = (
    '模板 {{ site.Title }} 与 {{< figure src="/x.png" >}} 以及 {{% nosuch %}} '
    "和 {{</* kept */>}} 还有 {{ .Content }} 及 {% raw %}"
)
MARKDOWN_TEXT = "**不是粗体** _也不是斜体_ # 不是标题 [不是链接](http://example.org/)"
HOSTILE_INTRODUCTION = (
    "<script>alert(9)</script> **摘要** 1. # [链接](http://example.org/) "
    '{{< figure src="/y.png" >}} &amp; "引号" -- ...'
)
VECTORS_ID = "1638700102"
# Titles YAML reads as a number, a boolean, a date or null when written plainly.
YAML_TITLES = {
    "1638700103": "1e3",
    "1638700104": "yes",
    "1638700105": "2021-12-04",
    "1638700106": "null",
    "1638700107": "😀 表情 ~",
}
SHARED_IDS = ("1638700108", "1638700109")
SHARED_IMAGE = "/qupost/img/2021/12/02/shared.jpeg"
DELETED_ID = "1638600001"  # a generated article, deleted before the refresh
UPDATED_ID = "1638600002"  # a generated article, changed before the refresh


# --- the crawl -------------------------------------------------------------------------------


def make_fake_site() -> FakeSite:
    site = build_site(4, channels=(1, 6))
    add_seed_article(site, channels=[1, 7])
    site.add_image("/qupost/img/2021/12/05/template.png", 320, 200, fmt="png", seed=5)
    site.add_article(
        FakeArticle(
            id=TEMPLATE_ID,
            title=TEMPLATE_TITLE,
            # 00:30:05 on 5 December in Beijing, still 4 December in UTC.
            published=datetime(2021, 12, 4, 16, 30, 5, tzinfo=UTC),
            channels=[6],
            body=[
                ("p", TEMPLATE_TEXT),
                ("img", "/qupost/img/2021/12/05/template.png", "320,200"),
                ("p", MARKDOWN_TEXT),
            ],
            introduction=HOSTILE_INTRODUCTION,
        )
    )
    site.add_article(
        FakeArticle(
            id=VECTORS_ID,
            title="注入测试",
            published=datetime(2021, 12, 3, 8, 0, tzinfo=UTC),
            channels=[7],
            body=[("p", "正文之前。")],
            extra_content_html="".join(VECTORS),
        )
    )
    for n, (qupost_id, title) in enumerate(YAML_TITLES.items()):
        site.add_article(
            FakeArticle(
                id=qupost_id,
                title=title,
                published=datetime(2021, 12, 3, 1, 2 + n, 3, tzinfo=UTC),
                channels=[7],
                body=[("p", f"标题是 {title}。")],
            )
        )
    site.add_image(SHARED_IMAGE, 480, 270, seed=11)
    for n, qupost_id in enumerate(SHARED_IDS):
        site.add_article(
            FakeArticle(
                id=qupost_id,
                title=f"共用图片{n + 1}",
                published=datetime(2021, 12, 2, 3, n, tzinfo=UTC),
                channels=[1],
                body=[("p", "两篇文章共用一张图。"), ("img", SHARED_IMAGE, "480,270")],
                cover=SHARED_IMAGE,
            )
        )
    return site


@dataclass
class Crawled:
    site: FakeSite
    result: CrawlResult

    @property
    def db(self) -> Path:
        return self.result.out / "qupost.db"

    @property
    def images(self) -> Path:
        """The crawl's image store."""
        return self.result.source / "images" / "qupost"

    def article(self, qupost_id: str) -> Article:
        repo = Repository.open(self.result.db_url)
        try:
            article = read_article(repo, qupost_id)
        finally:
            repo.close()
        assert article is not None, qupost_id
        return article

    @property
    def published_ids(self) -> list[str]:
        return sorted(i for i in self.site.articles if i != DELETED_ID)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    """A crawl, then a refresh that finds one article changed and one deleted."""
    site = make_fake_site()
    out = tmp_path_factory.mktemp("crawl")
    with FakeServer(site) as server:
        first = run_crawl(server, out, "cid=1,6,7", "limit=30")
        assert first.returncode == 0, first.stderr[-3000:]
        assert len(first.post_files()) == len(site.articles), first.stderr[-3000:]
        site.articles[DELETED_ID].mode = "deleted"
        site.articles[UPDATED_ID].body.append(("p", "更正：补充的一段。"))
        time.sleep(0.05)
        second = run_crawl(server, out, "cid=1,6,7", "limit=30", "refresh=1")
    assert second.returncode == 0, second.stderr[-3000:]
    crawl = Crawled(site, second)
    assert crawl.article(DELETED_ID).deleted
    assert crawl.article(UPDATED_ID).updated_at is not None
    return crawl


def export_hugo(crawl: Crawled, site_dir: Path, **settings: str) -> str:
    proc = export_catalog(crawl.db, crawl.result.source, site_dir, "--target", "hugo", **settings)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def new_site(folder: Path) -> Path:
    """A copy of the documented minimal Hugo site."""
    shutil.copytree(SITE_TEMPLATE, folder)
    return folder


@pytest.fixture(scope="module")
def exported(crawled: Crawled, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = new_site(tmp_path_factory.mktemp("hugo") / "site")
    export_hugo(crawled, site_dir)
    return site_dir


# --- building with Hugo ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hugo_bin() -> str:
    hugo = shutil.which("hugo")
    if hugo is None:
        skip_or_fail("hugo is not on PATH: the real-Hugo tests need it (bash .ci/hugo installs it)")
    assert hugo is not None
    return hugo


@dataclass
class HugoSite:
    root: Path
    public: Path
    log: str

    def post_page(self, qupost_id: str) -> Path:
        pages = sorted(self.public.glob(f"**/qupost-{qupost_id}/index.html"))
        assert len(pages) == 1, f"expected one page for qupost-{qupost_id}, found {pages}"
        return pages[0]

    def post_pages(self) -> list[Path]:
        return sorted(self.public.glob("**/qupost-*/index.html"))

    def local_file(self, url: str) -> Path:
        return self.public / unquote(urlsplit(url).path).lstrip("/")

    def url_of(self, page: Path) -> str:
        return "/" + page.parent.relative_to(self.public).as_posix() + "/"


def build_hugo_site(hugo: str, site_dir: Path, machine_tz: str = "UTC") -> HugoSite:
    public = site_dir.parent / f"public-{machine_tz.replace('/', '-')}"
    proc = subprocess.run(
        [hugo, "--source", str(site_dir), "--destination", str(public), "--printPathWarnings"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TZ": machine_tz, "HUGO_CACHEDIR": str(site_dir.parent / "cache")},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"hugo failed:\n{log[-4000:]}"
    problems = [line for line in log.splitlines() if re.match(r"\s*(WARN|ERROR)", line)]
    assert not problems, f"hugo warned:\n{log[-4000:]}"
    return HugoSite(site_dir, public, log)


@pytest.fixture(scope="module")
def hugo_site(hugo_bin: str, exported: Path) -> Callable[[str], HugoSite]:
    built: dict[str, HugoSite] = {}

    def get(machine_tz: str = "UTC") -> HugoSite:
        if machine_tz not in built:
            built[machine_tz] = build_hugo_site(hugo_bin, exported, machine_tz)
        return built[machine_tz]

    return get


@pytest.fixture(scope="module")
def hugo(hugo_site: Callable[[str], HugoSite]) -> HugoSite:
    return hugo_site("UTC")


# --- reading pages ---------------------------------------------------------------------------


def measured_size(path: Path) -> str:
    with Image.open(BytesIO(path.read_bytes())) as image:
        return f"{image.width},{image.height}"


def content_matter(site_dir: Path, qupost_id: str) -> dict[str, object]:
    path = site_dir / "content" / "posts" / f"qupost-{qupost_id}.html"
    return split_post(path.read_text("utf-8"))[0]


# --- the tests ---------------------------------------------------------------------------------


def test_every_post_has_a_page_with_its_exact_title(hugo: HugoSite, crawled: Crawled) -> None:
    assert {p.parent.name for p in hugo.post_pages()} == {
        f"qupost-{i}" for i in crawled.published_ids
    }
    wrong: list[str] = []
    for qupost_id in crawled.published_ids:
        article = crawled.site.articles[qupost_id]
        page = hugo.post_page(qupost_id)
        # docs/hugo's permalink: Hexo's default, /:year/:month/:day/qupost-<id>/, Beijing date.
        day = article.published.astimezone(BEIJING).strftime("%Y/%m/%d")
        assert hugo.url_of(page) == f"/{day}/qupost-{qupost_id}/"
        tree = parse(page)
        want = expected_title(article.title)
        shown = text_of(one(tree, "h1.post-title"))
        head = one(tree, "title").text_content()
        og = one(tree, 'meta[property="og:title"]').get("content")
        if shown != want or head != f"{want} | {SITE_TITLE}" or og != want:
            wrong.append(f"qupost-{qupost_id}: want {want!r}, shown {shown!r}, <title> {head!r}")
    assert not wrong, "titles Hugo renders differently:\n" + "\n".join(wrong)


@pytest.mark.parametrize("machine_tz", MACHINE_TZS)
def test_dates_are_the_publish_instant_shown_in_beijing(
    hugo_site: Callable[[str], HugoSite], crawled: Crawled, machine_tz: str
) -> None:
    built = hugo_site(machine_tz)
    for qupost_id in crawled.published_ids:
        article = crawled.site.articles[qupost_id]
        tree = parse(built.post_page(qupost_id))
        element = one(tree, "time.published")
        assert datetime.fromisoformat(element.get("datetime")) == article.published, qupost_id
        local = article.published.astimezone(BEIJING)
        assert text_of(element) == local.strftime("%Y-%m-%d %H:%M"), qupost_id
        published = one(tree, 'meta[property="article:published_time"]').get("content")
        assert datetime.fromisoformat(published) == article.published
        modified = datetime.fromisoformat(
            one(tree, 'meta[property="article:modified_time"]').get("content")
        )
        updated_at = crawled.article(qupost_id).updated_at
        if qupost_id == UPDATED_ID:
            assert updated_at is not None
            updated_at = updated_at.replace(microsecond=0)  # dates are written to the second
            lastmod = one(tree, "time.lastmod")
            assert datetime.fromisoformat(lastmod.get("datetime")) == updated_at
            assert modified == updated_at
        else:
            assert updated_at is None
            assert not tree.cssselect("time.lastmod"), qupost_id
            assert modified == article.published, qupost_id


def test_categories_and_tags(hugo: HugoSite, crawled: Crawled) -> None:
    tagged: dict[str, set[str]] = {}
    for qupost_id in crawled.published_ids:
        article = crawled.site.articles[qupost_id]
        page = hugo.post_page(qupost_id)
        url = hugo.url_of(page)
        tree = parse(page)
        categories = tree.cssselect("ul.categories a")
        tags = tree.cssselect("ul.tags a")
        assert [text_of(a) for a in categories] == CATEGORIES, qupost_id
        want_tags = sorted(CHANNELS[c] for c in set(article.channels))
        assert sorted(text_of(a) for a in tags) == want_tags, qupost_id
        for a in categories + tags:
            term_page = hugo.local_file(a.get("href")) / "index.html"
            assert term_page.is_file(), f"{a.get('href')} on {url} has no page"
        for tag in want_tags:
            tagged.setdefault(tag, set()).add(url)
    for tag, urls in tagged.items():
        listed: set[str] = set()
        folder = hugo.public / "tags" / tag
        for term_page in [folder / "index.html", *sorted(folder.glob("page/*/index.html"))]:
            listed |= {unquote(a.get("href", "")) for a in parse(term_page).iter("a")}
        assert urls <= listed, f"tag page {tag} misses {sorted(urls - listed)}"
    assert set(tagged) == {"热点", "娱乐", "科技"}


def test_every_image_is_the_stored_file_with_its_measured_size(
    hugo: HugoSite, crawled: Crawled
) -> None:
    checked = 0
    for qupost_id in crawled.published_ids:
        tree = parse(hugo.post_page(qupost_id))
        content = one(tree, "div.post-content")
        record = crawled.article(qupost_id)
        stored = {
            "/images/qupost/" + image.path: image
            for image in record.images.values()
            if image.stored and image.path
        }
        shown: list[str] = []
        for img in content.iter("img"):
            src = img.get("src", "")
            if not src.startswith("/images/qupost/"):
                # Images the crawl refused (hostile vectors) keep an absolute http(s) URL.
                assert urlsplit(src).scheme in ("http", "https"), (qupost_id, src)
                continue
            shown.append(src)
            file = hugo.local_file(src)
            assert file.is_file(), f"{src} on qupost-{qupost_id} is not in public/"
            store_copy = crawled.images / file.relative_to(hugo.public / "images" / "qupost")
            assert file.read_bytes() == store_copy.read_bytes(), src
            image = stored[src]
            assert img.get("data-size") == f"{image.width},{image.height}", src
            assert img.get("data-size") == measured_size(file), src
            checked += 1
        # Every stored image of the stored body, in order, at its local URL.
        want = [
            "/images/qupost/" + image.path
            for img in lxml.html.fragment_fromstring(record.body_html, "div").iter("img")
            if (image := record.images.get(img.get("src", ""))) and image.stored and image.path
        ]
        assert shown == want, qupost_id
        # The cover, for Open Graph and Twitter Cards: the first body image.
        og_images = [m.get("content") for m in tree.cssselect('meta[property="og:image"]')]
        assert og_images == ([urljoin(BASE_URL, want[0])] if want else []), qupost_id
    seed = one(parse(hugo.post_page(SEED_ID)), "div.post-content")
    assert len(list(seed.iter("img"))) == 4
    # The seed's 4, 2 for each generated article still published, the template article's 1
    # and the shared image on two pages.
    assert checked == 4 + 2 * 3 + 1 + len(SHARED_IDS)


def test_an_image_shared_by_two_posts_is_one_file(hugo: HugoSite, crawled: Crawled) -> None:
    sources = {
        img.get("src")
        for qupost_id in SHARED_IDS
        for img in one(parse(hugo.post_page(qupost_id)), "div.post-content").iter("img")
    }
    assert len(sources) == 1, sources
    static = sorted((hugo.root / "static").rglob("*.*"))
    stored = sorted(p for p in crawled.images.rglob("*") if p.is_file())
    assert len(static) == len(stored)
    assert [p.read_bytes() for p in static] == [p.read_bytes() for p in stored]


def test_no_injected_script_survives(hugo: HugoSite, crawled: Crawled) -> None:
    pages = sorted(hugo.public.rglob("*.html"))
    assert len(pages) > len(crawled.published_ids)
    for page in pages:
        raw = page.read_text("utf-8")
        assert not re.search(r"<\s*script", raw, re.I), page
        tree = parse(page)
        assert not tree.cssselect("script, iframe, object, embed, form, svg, math"), page
        for element in tree.iter():
            if not isinstance(element.tag, str):
                continue
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), f"{page}: {name}={value!r}"
                url = re.sub(r"[\x00-\x20]", "", value).lower()
                assert not url.startswith(("javascript:", "vbscript:", "data:")), f"{page}: {value}"
    for qupost_id in crawled.published_ids:
        content = one(parse(hugo.post_page(qupost_id)), "div.post-content")
        inner = "".join(lxml.html.tostring(child, encoding="unicode") for child in content)
        assert executable_parts(inner) == [], qupost_id
    vectors = text_of(one(parse(hugo.post_page(VECTORS_ID)), "div.post-content"))
    assert "正文之前" in vectors and "styled" in vectors
    assert "{{ constructor.constructor('alert(1)')() }}" in vectors


def test_template_and_markdown_syntax_stays_literal(hugo: HugoSite, crawled: Crawled) -> None:
    tree = parse(hugo.post_page(TEMPLATE_ID))
    content = one(tree, "div.post-content")
    text = text_of(content)
    assert TEMPLATE_TEXT in text, text
    assert MARKDOWN_TEXT in text, text
    # No shortcode ran and no Markdown was read from the article's text.
    assert not content.cssselect("figure, strong, em, h1, h2, a[href]"), lxml.html.tostring(
        content, encoding="unicode"
    )
    assert SITE_TITLE not in text


def test_summary_is_the_stored_description_as_text(
    hugo: HugoSite, crawled: Crawled, exported: Path
) -> None:
    record = crawled.article(TEMPLATE_ID)
    # The introduction's markup was dropped and its angle brackets made full-width when stored.
    assert "<" not in record.description and "alert(9)" in record.description
    assert "{{＜" in record.description
    assert content_matter(exported, TEMPLATE_ID)["description"] == record.description
    page = hugo.post_page(TEMPLATE_ID)
    tree = parse(page)
    assert one(tree, 'meta[name="description"]').get("content") == record.description
    assert one(tree, 'meta[property="og:description"]').get("content") == record.description
    # The index pages list each post with its summary, shown as plain text.
    url = hugo.url_of(page)
    found = 0
    for index in [hugo.public / "index.html", *sorted(hugo.public.glob("page/*/index.html"))]:
        for item in parse(index).cssselect("ul.post-list li"):
            if one(item, "a.post-link").get("href") == url:
                summary = one(item, "p.summary")
                assert text_of(summary) == record.description
                assert len(summary) == 0, lxml.html.tostring(summary, encoding="unicode")
                found += 1
    assert found == 1


def test_deleted_article_is_a_draft_hugo_does_not_publish(
    hugo: HugoSite, crawled: Crawled, exported: Path
) -> None:
    assert content_matter(exported, DELETED_ID)["draft"] is True
    assert not list(hugo.public.glob(f"**/qupost-{DELETED_ID}/"))
    for qupost_id in crawled.published_ids:
        assert content_matter(exported, qupost_id)["draft"] is False


@pytest.mark.parametrize("policy", ["keep", "remove"])
def test_deletion_policies(hugo_bin: str, crawled: Crawled, tmp_path: Path, policy: str) -> None:
    site_dir = new_site(tmp_path / "site")
    export_hugo(crawled, site_dir, QUPOST_ON_DELETED=policy)
    path = site_dir / "content" / "posts" / f"qupost-{DELETED_ID}.html"
    built = build_hugo_site(hugo_bin, site_dir)
    pages = list(built.public.glob(f"**/qupost-{DELETED_ID}/index.html"))
    if policy == "keep":
        assert content_matter(site_dir, DELETED_ID)["draft"] is False
        assert len(pages) == 1
    else:
        assert not path.exists() and not pages
    assert len(built.post_pages()) == len(crawled.published_ids) + (policy == "keep")


def test_exporting_twice_changes_nothing(crawled: Crawled, tmp_path: Path) -> None:
    site_dir = new_site(tmp_path / "site")
    first = export_hugo(crawled, site_dir)
    assert f"{len(crawled.site.articles)} posts ({len(crawled.site.articles)} written" in first

    def snapshot() -> dict[str, tuple[bytes, int]]:
        return {
            str(p.relative_to(site_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(site_dir.rglob("*"))
            if p.is_file()
        }

    before = snapshot()
    time.sleep(0.05)
    second = export_hugo(crawled, site_dir)
    assert "(0 written" in second and "0 copied" in second, second
    assert snapshot() == before
