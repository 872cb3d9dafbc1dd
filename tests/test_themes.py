"""Every theme preset, built with its real theme from npm and checked in the generated HTML.

One crawl of a small fake site; then, for each preset in ``storage.themes.PRESETS``,
``scrapy export --theme NAME`` renders the catalog and the pinned Hexo builds it with that
theme, using the site configuration committed in ``tests/hexo/themes/NAME/``. The builds
run in parallel. For every theme:

- the index shows each post's summary (its ``description``), not the article: a
  sentence from the end of the body is not on the index page;
- the index card of a post with a cover shows the cover image, and that card links to
  this post only;
- the post page shows the exact title, the publish date, the cover as its banner, and
  every image of the body; every local ``<img>`` on the page is a file in ``public/``.

The Hexo ``permalink`` settings that give one URL per article id are built too.
Hexo itself is installed as in ``tests/test_hexo.py`` (skipped only without npm, and
never under ``QUPOST_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import lxml.html
import pytest
import yaml

from fakesite.server import FakeServer
from fakesite.site import FakeArticle, FakeSite
from storage.themes import PRESETS
from tests.conftest import ROOT, CrawlResult, export_catalog, run_crawl, split_post
from tests.html_pages import expected_title, one, parse, text_of
from tests.test_hexo import PACKAGE_DIR, HexoSite, build_hexo_site, install_hexo

pytestmark = pytest.mark.hexo

THEME_CONFIGS = PACKAGE_DIR / "themes"
IMAGE_URL_BASE = "/images/qupost/"
# Attributes themes put an image's URL in (lazy loaders keep the real one aside).
IMAGE_ATTRS = ("src", "data-src", "data-original", "data-lazy-src", "srcset", "data-srcset")


@dataclass(frozen=True)
class PostPage:
    """Where a theme's post page shows the title, the publish date and the body."""

    title: str
    date: str  # the first match shows the publish date
    body: str
    title_attr: str | None = None  # the title is this attribute's value, not the text


PAGES = {
    "landscape": PostPage("h1.article-title", "time.dt-published", "div.article-entry"),
    "next": PostPage("h1.post-title", "time[itemprop~=datePublished]", "div.post-body"),
    # Fluid types the title into the banner with JavaScript, from this attribute.
    "fluid": PostPage(
        "span#subtitle",
        "time[pubdate]",
        "article.post-content div.markdown-body",
        "data-typed-text",
    ),
    "icarus": PostPage("h1.title", "div.article-meta .level-item time", "article div.content"),
    "butterfly": PostPage("h1.post-title", "time.post-meta-date-created", "#article-container"),
    # With a headimg, Volantis keeps this h1 for readers of the markup only (class "hidden").
    "volantis": PostPage(
        "h1[itemprop~=headline]", ".new-meta-item.date[itemprop~=datePublished]", "#post-body"
    ),
    "redefine": PostPage(
        "div.article-title h1", "span.article-date span.desktop", "div.article-content"
    ),
    "keep": PostPage(
        "div.cover-post-title, div.post-content-bottom > div.post-title",
        ".post-create-date .datetime",
        "div.post-content",
    ),
}

# --- the fake site: a few articles, one with the list's introduction, one without images ----

WITH_INTRODUCTION = "1638900001"
WITHOUT_INTRODUCTION = "1638900002"
WITHOUT_IMAGES = "1638900003"
LAST_SENTENCES = {
    WITH_INTRODUCTION: "末句甲：改造完成后居民将陆续搬回原址。",
    WITHOUT_INTRODUCTION: "末句乙：下一阶段的招标将在明年春天开始。",
    WITHOUT_IMAGES: "末句丙：活动报名通道将于本周五晚间关闭。",
}
_FILLER = (
    "近日，记者从相关部门获悉，今年以来全市新增就业岗位持续增长，"
    "多个重点项目按计划推进，周边配套设施也在同步建设之中。"
)


def make_theme_site() -> FakeSite:
    site = FakeSite()
    site.add_image("/qupost/img/2021/12/04/t1.jpeg", 640, 360, seed=11)
    site.add_image("/qupost/img/2021/12/04/t2.png", 480, 320, fmt="png", seed=12)
    site.add_image("/qupost/img/2021/12/03/t3.jpeg", 800, 450, seed=13)
    site.add_image("/qupost/img/2021/12/03/t4.gif", 200, 120, fmt="gif", seed=14)
    site.add_image("/qupost/img/2021/12/03/t5.webp", 320, 240, fmt="webp", seed=15)
    site.add_article(
        FakeArticle(
            id=WITH_INTRODUCTION,
            title="重庆将改造老旧小区住宅4.35万栋 & “十四五”规划",
            published=datetime(2021, 12, 4, 4, 30, 0, tzinfo=UTC),
            channels=[1],
            introduction="列表导语：重庆今年将改造老旧小区住宅4.35万栋，惠及居民约60万户。",
            body=[
                ("p", "第一段。" + _FILLER),
                ("img", "/qupost/img/2021/12/04/t1.jpeg", "640,360"),
                ("p", "第二段。" + _FILLER * 2),
                ("img", "/qupost/img/2021/12/04/t2.png", "480,320"),
                ("p", LAST_SENTENCES[WITH_INTRODUCTION]),
            ],
            cover="/qupost/img/2021/12/04/t1.jpeg",
        )
    )
    site.add_article(
        FakeArticle(
            id=WITHOUT_INTRODUCTION,
            title="新区产业园二期工程正式开工",
            published=datetime(2021, 12, 3, 3, 15, 0, tzinfo=UTC),
            channels=[6],
            body=[
                ("p", "开篇段落。" + _FILLER * 2),
                ("img", "/qupost/img/2021/12/03/t3.jpeg", "800,450"),
                ("p", "中间段落。" + _FILLER),
                ("img", "/qupost/img/2021/12/03/t4.gif", "200,120"),
                ("img", "/qupost/img/2021/12/03/t5.webp", "320,240"),
                ("p", LAST_SENTENCES[WITHOUT_INTRODUCTION]),
            ],
            cover="/qupost/img/2021/12/03/t3.jpeg",
        )
    )
    site.add_article(
        FakeArticle(
            id=WITHOUT_IMAGES,
            title="城市马拉松志愿者招募启动",
            published=datetime(2021, 12, 2, 2, 0, 0, tzinfo=UTC),
            channels=[1],
            body=[
                ("p", "招募公告。" + _FILLER * 2),
                ("p", "报名须知。" + _FILLER),
                ("p", LAST_SENTENCES[WITHOUT_IMAGES]),
            ],
        )
    )
    return site


@dataclass
class ThemeCrawl:
    site: FakeSite
    result: CrawlResult


@pytest.fixture(scope="module")
def theme_crawl(tmp_path_factory: pytest.TempPathFactory) -> ThemeCrawl:
    site = make_theme_site()
    with FakeServer(site) as server:
        result = run_crawl(server, tmp_path_factory.mktemp("crawl"), "cid=1,6", "limit=20")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in result.post_files()} == {f"qupost-{i}.md" for i in site.articles}
    return ThemeCrawl(site, result)


# --- the builds: every preset, and the permalink settings, in parallel -------------------------


@dataclass
class ThemeBuild:
    theme: str
    source: Path  # the exported Hexo source/ folder
    site: HexoSite

    def post(self, qupost_id: str) -> tuple[dict[str, object], str]:
        return split_post((self.source / "_posts" / f"qupost-{qupost_id}.md").read_text("utf-8"))


# Hexo permalinks that give one URL per article id, without plugins, and the page they
# must produce for a post. ``:title`` is the file name; front-matter keys work as well.
PERMALINKS: dict[str, tuple[Callable[[str], str], dict[str, str]]] = {
    ":title/": (lambda qupost_id: f"qupost-{qupost_id}/index.html", {}),
    "posts/:qupost_id/": (lambda qupost_id: f"posts/{qupost_id}/index.html", {}),
    "posts/:abbrlink/": (
        lambda qupost_id: f"posts/{qupost_id}/index.html",
        {"QUPOST_ABBRLINK": "1"},
    ),
}


@dataclass
class Builds:
    themes: dict[str, Future[ThemeBuild]]
    permalinks: dict[str, Future[ThemeBuild]]
    seconds: float

    def theme(self, name: str) -> ThemeBuild:
        return self.themes[name].result()  # re-raises this build's failure

    def permalink(self, rule: str) -> ThemeBuild:
        return self.permalinks[rule].result()


def export_and_build(
    modules: Path,
    crawl: ThemeCrawl,
    root: Path,
    theme: str,
    config_dir: Path,
    *options: str,
    **settings: str,
) -> ThemeBuild:
    source = root / "source"
    db = crawl.result.out / "qupost.db"
    proc = export_catalog(db, crawl.result.source, source, *options, **settings)
    assert proc.returncode == 0, f"export for {theme} failed:\n{proc.stdout}{proc.stderr[-3000:]}"
    site = build_hexo_site(modules, source, root / "site", theme, config_dir=config_dir)
    return ThemeBuild(theme, source, site)


def permalink_config(rule: str, folder: Path) -> Path:
    """The landscape site configuration with ``permalink: rule``."""
    config = yaml.safe_load((THEME_CONFIGS / "landscape" / "_config.yml").read_text("utf-8"))
    config["permalink"] = rule
    folder.mkdir(parents=True)
    (folder / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    return folder


@pytest.fixture(scope="module")
def builds(theme_crawl: ThemeCrawl, tmp_path_factory: pytest.TempPathFactory) -> Builds:
    modules = install_hexo()
    root = tmp_path_factory.mktemp("themes")
    started = time.monotonic()
    # Two workers: each build is one Node process, and CI machines have two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        themes = {
            name: pool.submit(
                export_and_build,
                modules,
                theme_crawl,
                root / name,
                name,
                THEME_CONFIGS / name,
                "--theme",
                name,
            )
            for name in PRESETS
        }
        permalinks = {
            rule: pool.submit(
                export_and_build,
                modules,
                theme_crawl,
                root / f"permalink-{n}",
                "landscape",
                permalink_config(rule, root / f"permalink-{n}" / "config"),
                "--theme",
                "landscape",
                **settings,
            )
            for n, (rule, (_, settings)) in enumerate(PERMALINKS.items())
        }
        for future in (*themes.values(), *permalinks.values()):
            future.exception()  # wait for all
    seconds = time.monotonic() - started
    print(
        f"\n[themes] {len(themes)} themes and {len(permalinks)} permalinks built in {seconds:.1f}s"
    )
    return Builds(themes, permalinks, seconds)


# --- reading pages ----------------------------------------------------------------------------


def image_urls(element: lxml.html.HtmlElement) -> list[str]:
    """Every URL an ``<img>`` names, lazy-loading attributes and srcset candidates included."""
    urls: list[str] = []
    for attr in IMAGE_ATTRS:
        value = element.get(attr)
        if not value or value.startswith("data:"):
            continue
        if "srcset" in attr:
            urls += [candidate.split()[0] for candidate in value.split(",") if candidate.strip()]
        else:
            urls.append(value)
    return urls


def local_path(url: str) -> str | None:
    """The site path of a URL on this site, or None for another host."""
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != "example.com":
        return None
    return unquote(parts.path)


def post_url(built: HexoSite, page: Path) -> str:
    return "/" + page.parent.relative_to(built.public).as_posix() + "/"


def shown_dates(published: datetime) -> tuple[str, ...]:
    """How the themes write a date (the build runs with ``TZ=UTC``)."""
    day = published.astimezone(UTC)
    return (day.strftime("%Y-%m-%d"), f"{day.year}年{day.month}月{day.day}日")


def cover_of(build: ThemeBuild, qupost_id: str) -> str | None:
    """The cover URL the post's front matter gives the theme (first of the preset's keys)."""
    matter, _ = build.post(qupost_id)
    key = PRESETS[build.theme].cover_keys[0] if PRESETS[build.theme].cover_keys else None
    if key is None:
        return None
    value = matter.get(key.removesuffix("[]"))
    if isinstance(value, list):
        value = value[0] if value else None
    assert value is None or isinstance(value, str), value
    return value


# --- every preset --------------------------------------------------------------------------------


def test_a_page_and_a_preset_for_every_theme() -> None:
    assert set(PAGES) == set(PRESETS)
    for name in PRESETS:
        assert (THEME_CONFIGS / name / "_config.yml").is_file(), name
        config = yaml.safe_load((THEME_CONFIGS / name / "_config.yml").read_text("utf-8"))
        assert config["theme"] == name


@pytest.mark.parametrize("theme", PRESETS)
def test_front_matter_has_the_preset_keys(
    theme: str, builds: Builds, theme_crawl: ThemeCrawl
) -> None:
    build = builds.theme(theme)
    other_keys = {
        key.removesuffix("[]") for preset in PRESETS.values() for key in preset.cover_keys
    } - {key.removesuffix("[]") for key in PRESETS[theme].cover_keys}
    for qupost_id in theme_crawl.site.articles:
        matter, body = build.post(qupost_id)
        first_image = re.search(r'<img src="([^"]+)"', body)
        assert not other_keys & set(matter), f"{theme}: {sorted(other_keys & set(matter))}"
        for key in PRESETS[theme].cover_keys:
            value = matter.get(key.removesuffix("[]"))
            if first_image is None:
                assert value is None, f"{theme} qupost-{qupost_id}: {key}={value!r}, no image"
                continue
            want = [first_image.group(1)] if key.endswith("[]") else first_image.group(1)
            assert value == want, f"{theme} qupost-{qupost_id}: {key}={value!r}"
        for key in ("description", "excerpt", "updated"):
            assert matter.get(key), f"{theme} qupost-{qupost_id}: no {key}"


@pytest.mark.parametrize("theme", PRESETS)
def test_index_shows_the_summary_not_the_article(
    theme: str, builds: Builds, theme_crawl: ThemeCrawl
) -> None:
    build = builds.theme(theme)
    index = text_of(parse(build.site.public / "index.html"))
    for qupost_id, article in theme_crawl.site.articles.items():
        matter, _ = build.post(qupost_id)
        description = matter["description"]
        assert isinstance(description, str)
        if article.introduction:
            assert description == article.introduction
        assert description in index, f"{theme}: summary of qupost-{qupost_id} not on the index"
        late = LAST_SENTENCES[qupost_id]
        assert late not in index, f"{theme}: the index shows the end of qupost-{qupost_id}"


@pytest.mark.parametrize("theme", PRESETS)
def test_index_card_shows_the_cover(theme: str, builds: Builds, theme_crawl: ThemeCrawl) -> None:
    """The cover image is on the index, in the card that links to its post and no other."""
    build = builds.theme(theme)
    built = build.site
    tree = parse(built.public / "index.html")
    post_urls = {post_url(built, page) for page in built.post_pages()}
    assert len(post_urls) == len(theme_crawl.site.articles)
    covers = 0
    for qupost_id in theme_crawl.site.articles:
        cover = cover_of(build, qupost_id)
        if cover is None:
            continue
        covers += 1
        url = post_url(built, built.post_page(qupost_id))
        shown = [img for img in tree.iter("img") if cover in map(local_path, image_urls(img))] + [
            el for el in tree.iter() if f"url({cover})" in (el.get("style") or "")
        ]
        assert shown, f"{theme}: the cover of qupost-{qupost_id} ({cover}) is not on the index"
        for element in shown:
            card_links: set[str] = set()
            for ancestor in (element, *element.iterancestors()):
                links = {local_path(a.get("href", "")) for a in ancestor.iter("a") if a.get("href")}
                card_links = {link for link in links if link in post_urls}
                if card_links:
                    break
            assert card_links == {url}, (
                f"{theme}: the cover of qupost-{qupost_id} sits in a card linking to "
                f"{sorted(card_links)}, want {url}"
            )
    with_images = [
        a for a in theme_crawl.site.articles.values() if any(p[0] == "img" for p in a.body)
    ]
    assert covers == (len(with_images) if PRESETS[theme].cover_keys else 0)


@pytest.mark.parametrize("theme", PRESETS)
def test_post_page_shows_title_date_banner_and_every_image(
    theme: str, builds: Builds, theme_crawl: ThemeCrawl
) -> None:
    build = builds.theme(theme)
    built = build.site
    spec = PAGES[theme]
    for qupost_id, article in theme_crawl.site.articles.items():
        page = built.post_page(qupost_id)
        tree = parse(page)
        titles = tree.cssselect(spec.title)
        assert len(titles) == 1, f"{theme}: {spec.title!r} matched {len(titles)} on {page}"
        title = titles[0].get(spec.title_attr) if spec.title_attr else text_of(titles[0])
        assert title == expected_title(article.title), (
            f"{theme} qupost-{qupost_id}: title {title!r}"
        )
        dates = tree.cssselect(spec.date)
        assert dates, f"{theme}: no {spec.date!r} on {page}"
        assert any(day in text_of(dates[0]) for day in shown_dates(article.published)), (
            f"{theme} qupost-{qupost_id}: date shown as {text_of(dates[0])!r}, "
            f"want one of {shown_dates(article.published)}"
        )
        # Every image of the body, in order, in the theme's article body.
        _, written = build.post(qupost_id)
        want = re.findall(r'<img src="([^"]+)"', written)
        bodies = tree.cssselect(spec.body)
        assert len(bodies) == 1, f"{theme}: {spec.body!r} matched {len(bodies)} on {page}"
        shown = [
            next(url for url in urls if url.startswith(IMAGE_URL_BASE))
            for img in bodies[0].iter("img")
            if (urls := [u for u in map(local_path, image_urls(img)) if u])
            and any(u.startswith(IMAGE_URL_BASE) for u in urls)
        ]
        assert shown == want, f"{theme} qupost-{qupost_id}: body images {shown}, want {want}"
        # The cover is the page's banner, outside the article body.
        cover = cover_of(build, qupost_id)
        if cover is not None:
            body_elements = set(bodies[0].iter())
            banner = [
                el
                for el in tree.iter()
                if el not in body_elements
                and (
                    (el.tag == "img" and cover in map(local_path, image_urls(el)))
                    or f"url({cover})" in (el.get("style") or "").replace("'", "")
                )
            ]
            assert banner, f"{theme} qupost-{qupost_id}: the cover {cover} is not the banner"
        # Every local image on the page is a file of the site.
        for img in tree.iter("img"):
            for url in filter(None, map(local_path, image_urls(img))):
                assert built.local_file(url).is_file(), f"{theme}: {url} on {page} not in public/"


def hidden(element: lxml.html.HtmlElement) -> bool:
    """Whether the markup hides the element (or one of its ancestors) from readers."""
    for node in (element, *element.iterancestors()):
        style = (node.get("style") or "").replace(" ", "")
        if "hidden" in (node.get("class") or "").split() or node.get("hidden") is not None:
            return True
        if "display:none" in style:
            return True
    return False


@pytest.mark.parametrize(
    "theme",
    list(PRESETS),
)
def test_post_title_is_visible(theme: str, builds: Builds, theme_crawl: ThemeCrawl) -> None:
    built = builds.theme(theme).site
    for qupost_id in theme_crawl.site.articles:
        title = parse(built.post_page(qupost_id)).cssselect(PAGES[theme].title)[0]
        assert not hidden(title), f"{theme}: the title of qupost-{qupost_id} is hidden"


# --- permalinks --------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", PERMALINKS)
def test_permalink_gives_one_url_per_article_id(
    rule: str, builds: Builds, theme_crawl: ThemeCrawl
) -> None:
    build = builds.permalink(rule)
    public = build.site.public
    page_of, _ = PERMALINKS[rule]
    listings = {"archives", "categories", "tags", "page"}
    pages = {
        path
        for page in public.rglob("index.html")
        if (path := page.relative_to(public).as_posix()) != "index.html"
        and path.split("/")[0] not in listings
    }
    want = {page_of(qupost_id) for qupost_id in theme_crawl.site.articles}
    assert pages == want, f"permalink {rule!r}: post pages {sorted(pages)}, want {sorted(want)}"
    for qupost_id, article in theme_crawl.site.articles.items():
        tree = parse(public / page_of(qupost_id))
        assert text_of(tree.cssselect("h1.article-title")[0]) == expected_title(article.title)


# --- the README ------------------------------------------------------------------------------


def test_readme_theme_table_matches_the_presets() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Themes\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, ...]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z]+)`", cells[0]) if line.startswith("|") else None
        if match:
            rows[match.group(1)] = tuple(re.findall(r"`([^`]+)`", cells[1]))
    fixed = {
        name: tuple(f"{k}: {str(v).lower()}" for k, v in p.extra) for name, p in PRESETS.items()
    }
    assert rows == {name: p.cover_keys + fixed[name] for name, p in PRESETS.items()}


def test_the_updated_date_a_theme_shows_is_the_publish_date_for_an_unchanged_article(
    builds: Builds, theme_crawl: ThemeCrawl
) -> None:
    # Butterfly prints "更新于" with the post's updated time; without an updated key Hexo
    # would take the file's modification time, the day the post was written.
    built = builds.theme("butterfly").site
    for qupost_id, article in theme_crawl.site.articles.items():
        tree = parse(built.post_page(qupost_id))
        created = one(tree, "time.post-meta-date-created").get("datetime")
        updated = one(tree, "time.post-meta-date-updated").get("datetime")
        want = article.published.astimezone(UTC).isoformat(timespec="milliseconds")
        assert created == updated == want.replace("+00:00", "Z"), (qupost_id, created, updated)
