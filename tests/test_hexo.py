"""Real Hexo: qupost's output built by ``hexo generate`` with pinned themes from npm.

Hexo and the themes of qupost's presets are pinned in ``tests/hexo/package.json``
and its lockfile (tests/test_themes.py builds every preset's theme). ``npm ci``
installs them once into ``.cache/hexo/<hash of both files>/`` and later runs reuse
that folder. Each test site is a minimal ``_config.yml`` plus the crawl output's
``source/``, with ``node_modules`` linked from the cache.

The tests skip, with the reason, only when npm or a new enough Node.js is missing,
and fail instead under ``QUPOST_REQUIRE_SERVICES=1``.

Dates: Hexo reads a front-matter ``date`` as wall-clock time in ``_config.yml``'s
``timezone``. ``new Date(...)`` first reads it in the machine's ``TZ`` (honouring a zone
in the string, if any); when ``timezone`` is set, Hexo then shifts the result by
(machine offset - ``timezone`` offset) -- even for a zoned string such as
``Sat, 04 Dec 2021 13:49:12 GMT``. When ``timezone`` is unset (``''``, Hexo's default),
nothing is shifted, and pages show dates in the machine's ``TZ``. So the two
supported pairings are:

(A) ``timezone`` unset + qupost's default ``QUPOST_DATE_FORMAT=rfc1123``: the
    instant is right on any machine; the shown date is the machine's local date;
(B) ``timezone: Asia/Shanghai`` + a crawl with ``QUPOST_DATE_FORMAT=%Y-%m-%d %H:%M:%S``
    and ``QUPOST_TIMEZONE=Asia/Shanghai`` (a zone-less wall clock): the instant is
    right and the shown date is the Asia/Shanghai date on any machine.

Every site here uses (A) except the (B) date tests.

Theme profiles (``QUPOST_COVER_KEYS``):
- default ``["headimg", "thumbnail"]``: the seed's keys, read by Volantis;
- ``["cover", "top_img"]``: Butterfly.
Landscape reads neither, so it checks the body, titles, dates and taxonomy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import pytest
import yaml

from fakesite.seed import SEED_ID, add_seed_article
from fakesite.server import FakeServer
from fakesite.site import FakeArticle, FakeSite, build_site
from tests.conftest import CrawlResult, run_crawl, skip_or_fail
from tests.hexo_pinned import PACKAGE_DIR, HexoInstallFailed, HexoMissing, pinned_node_modules
from tests.html_pages import expected_title, one, parse, text_of

pytestmark = pytest.mark.hexo

SITE_TITLE = "qupost test blog"
SITE_TZ = ZoneInfo("Asia/Shanghai")  # the Hexo ``timezone`` of configuration (B)
MACHINE_TZS = ("UTC", "America/New_York", "Asia/Shanghai")
WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"
CATEGORIES = ("新媒体", "趣头条", "分类")
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".gif", ".webp")
BUTTERFLY_KEYS = '["cover","top_img"]'

HOSTILE_ID = "1638700001"
# YAML-hostile: a leading "*", ": ", " #", both quote styles, Qutoutiao's '' for ",
# template syntax and markup. '' becomes " (Qutoutiao writes '' for ").
HOSTILE_TITLE = (
    "*快讯* & 标题: #不是注释 “引号” 'single' \"double\" ''两个单引号'' "
    "{{ site.title }} {% raw %} <b>粗</b> | / 100%"
)
# A title that YAML 1.1 (PyYAML) leaves plain but YAML 1.2 (Hexo's js-yaml) reads as a number.
NUMERIC_ID = "1638700002"
NUMERIC_TITLE = "1e3"
HOSTILE_BODY_HTML = (
    "<p>模板 {{ page.title }} 与 {% raw %} 以及 {# 注释 #}</p>"
    "<script>alert(1)</script>"
    '<p><img src="/qupost/img/2021/12/05/missing.gif" onerror="alert(2)"></p>'
    '<p><a href="javascript:alert(3)">链接</a></p>'
    "<p>**不是粗体** _也不是斜体_ # 不是标题 [不是链接](http://example.org/)</p>"
)


# --- installing Hexo ---------------------------------------------------------------------


def install_hexo() -> Path:
    """The pinned ``node_modules`` (see tests/hexo_pinned.py); a skip without Node.js and npm."""
    try:
        return pinned_node_modules()
    except HexoMissing as exc:
        skip_or_fail(str(exc))
    except HexoInstallFailed as exc:
        pytest.fail(str(exc))
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def hexo_modules() -> Path:
    return install_hexo()


# --- building a site ------------------------------------------------------------------------


@dataclass
class HexoSite:
    root: Path
    seconds: float
    log: str

    @property
    def public(self) -> Path:
        return self.root / "public"

    def post_page(self, qupost_id: str) -> Path:
        pages = sorted(self.public.glob(f"**/qupost-{qupost_id}/index.html"))
        assert len(pages) == 1, f"expected one page for qupost-{qupost_id}, found {pages}"
        return pages[0]

    def post_pages(self) -> list[Path]:
        return sorted(self.public.glob("**/qupost-*/index.html"))

    def local_file(self, url: str) -> Path:
        return self.public / unquote(urlsplit(url).path).lstrip("/")


def hexo_config(theme: str, timezone: str | None) -> str:
    """A minimal ``_config.yml``; ``timezone=None`` writes ``timezone: ''`` (unset).

    ``''`` is Hexo's own default: Hexo only shifts dates ``if (timezone)``, so an
    empty value and a missing key behave the same.
    """
    config = {
        "title": SITE_TITLE,
        "url": "http://example.com",
        "root": "/",
        "timezone": timezone or "",
        "language": "zh-CN",
        "theme": theme,
        "post_asset_folder": False,
        "permalink": ":year/:month/:day/:title/",
    }
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def build_hexo_site(
    modules: Path,
    source: Path,
    dest: Path,
    theme: str,
    *,
    timezone: str | None = None,
    machine_tz: str = "UTC",
    config_dir: Path | None = None,
) -> HexoSite:
    """A minimal Hexo site around a crawl's ``source/``, generated by the real ``hexo``.

    ``timezone`` is Hexo's ``timezone`` (``None``: unset, configuration (A), which
    matches qupost's default rfc1123 dates). ``machine_tz`` is the ``TZ`` of the hexo
    process: CI machines run in UTC, so that is the default. ``config_dir`` holds the
    site's ``_config.yml`` (and the theme's ``_config.<theme>.yml``) to use instead.
    The theme's network access is refused (``tests/hexo/offline.cjs``).
    """
    dest.mkdir(parents=True)
    if config_dir is None:
        (dest / "_config.yml").write_text(hexo_config(theme, timezone), "utf-8")
    else:
        for config in config_dir.glob("_config*.yml"):
            shutil.copy2(config, dest / config.name)
    shutil.copy2(PACKAGE_DIR / "package.json", dest / "package.json")
    (dest / "node_modules").symlink_to(modules, target_is_directory=True)
    shutil.copytree(source, dest / "source")
    env = {
        **os.environ,
        "TZ": machine_tz,
        "NO_COLOR": "1",
        "NODE_OPTIONS": f'--require "{PACKAGE_DIR / "offline.cjs"}"',
        # Volantis checks its environment by running ``hexo -v`` from PATH.
        "PATH": f"{dest / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    node = shutil.which("node") or "node"
    started = time.monotonic()
    proc = subprocess.run(
        [node, str(dest / "node_modules" / ".bin" / "hexo"), "generate"],
        cwd=dest,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    seconds = time.monotonic() - started
    log = proc.stdout + proc.stderr
    print(
        f"\n[hexo] {theme} (timezone={timezone or 'unset'}, TZ={machine_tz}): "
        f"hexo generate took {seconds:.1f}s"
    )
    assert proc.returncode == 0, f"hexo generate failed ({theme}):\n{log[-4000:]}"
    errors = [line for line in log.splitlines() if line.lstrip().startswith(("ERROR", "FATAL"))]
    assert not errors, f"hexo generate logged errors ({theme}):\n{log[-4000:]}"
    return HexoSite(dest, seconds, log)


# --- the crawl -------------------------------------------------------------------------------


def make_fake_site() -> FakeSite:
    """Generated articles, the seed article and two hostile ones."""
    site = build_site(4, channels=(1, 6))
    add_seed_article(site, channels=[1, 7])
    site.add_image("/qupost/img/2021/12/05/hostile.png", 320, 200, fmt="png", seed=5)
    site.add_article(
        FakeArticle(
            id=HOSTILE_ID,
            title=HOSTILE_TITLE,
            # 00:30:05 on 5 December in Beijing, still 4 December in UTC.
            published=datetime(2021, 12, 4, 16, 30, 5, tzinfo=UTC),
            channels=[6],
            body=[
                ("p", "第一段 {{ site.title }} 和 {% raw %}"),
                ("img", "/qupost/img/2021/12/05/hostile.png", "320,200"),
            ],
            extra_content_html=HOSTILE_BODY_HTML,
        )
    )
    site.add_image("/qupost/img/2021/12/03/numeric.gif", 64, 48, fmt="gif", seed=6)
    site.add_article(
        FakeArticle(
            id=NUMERIC_ID,
            title=NUMERIC_TITLE,
            published=datetime(2021, 12, 3, 1, 2, 3, tzinfo=UTC),
            channels=[7],
            body=[("p", "数字标题。"), ("img", "/qupost/img/2021/12/03/numeric.gif", "64,48")],
        )
    )
    return site


@dataclass
class Crawl:
    site: FakeSite
    result: CrawlResult

    def matter(self, qupost_id: str) -> dict[str, object]:
        return self.result.post(qupost_id)[0]

    def body(self, qupost_id: str) -> str:
        return self.result.post(qupost_id)[1]


def crawl(out: Path, **settings: str) -> Crawl:
    """A crawl of :func:`make_fake_site` with these ``-s`` settings."""
    site = make_fake_site()
    with FakeServer(site) as server:
        result = run_crawl(server, out, "cid=1,6,7", "limit=20", timeout=180, **settings)
    assert result.returncode == 0, result.stderr[-3000:]
    written = {p.name for p in result.post_files()}
    assert written == {f"qupost-{i}.md" for i in site.articles}, written
    return Crawl(site, result)


@pytest.fixture(scope="module")
def default_crawl(tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    """qupost's defaults: rfc1123 dates, for Hexo with ``timezone`` unset (A)."""
    return crawl(tmp_path_factory.mktemp("crawl-default"))


@pytest.fixture(scope="module")
def shanghai_crawl(tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    """Zone-less Asia/Shanghai wall-clock dates, for Hexo ``timezone: Asia/Shanghai`` (B)."""
    result = crawl(
        tmp_path_factory.mktemp("crawl-shanghai"),
        QUPOST_DATE_FORMAT=WALL_CLOCK_FORMAT,
        QUPOST_TIMEZONE="Asia/Shanghai",
    )
    for qupost_id, article in result.site.articles.items():
        line = next(
            line
            for line in (result.result.posts / f"qupost-{qupost_id}.md")
            .read_text("utf-8")
            .splitlines()
            if line.startswith("date:")
        )
        want = article.published.astimezone(SITE_TZ).strftime(WALL_CLOCK_FORMAT)
        assert want in line, f"qupost-{qupost_id}: {line!r}, want the wall clock {want!r}"
    return result


@pytest.fixture(scope="module")
def butterfly_crawl(tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    return crawl(tmp_path_factory.mktemp("crawl-butterfly"), QUPOST_COVER_KEYS=BUTTERFLY_KEYS)


def landscape_builds(
    modules: Path,
    crawl_: Crawl,
    timezone: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], HexoSite]:
    """``crawl_`` built with landscape and Hexo ``timezone``, once per machine time zone."""
    built: dict[str, HexoSite] = {}

    def get(machine_tz: str = "UTC") -> HexoSite:
        if machine_tz not in built:
            dest = tmp_path_factory.mktemp("landscape") / "site"
            built[machine_tz] = build_hexo_site(
                modules,
                crawl_.result.source,
                dest,
                "landscape",
                timezone=timezone,
                machine_tz=machine_tz,
            )
        return built[machine_tz]

    return get


@pytest.fixture(scope="module")
def landscape_site(
    hexo_modules: Path, default_crawl: Crawl, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], HexoSite]:
    """Configuration (A): the default crawl, Hexo ``timezone`` unset."""
    return landscape_builds(hexo_modules, default_crawl, None, tmp_path_factory)


@pytest.fixture(scope="module")
def shanghai_landscape_site(
    hexo_modules: Path, shanghai_crawl: Crawl, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], HexoSite]:
    """Configuration (B): the wall-clock crawl, Hexo ``timezone: Asia/Shanghai``."""
    return landscape_builds(hexo_modules, shanghai_crawl, "Asia/Shanghai", tmp_path_factory)


@pytest.fixture(scope="module")
def landscape(landscape_site: Callable[[str], HexoSite]) -> HexoSite:
    return landscape_site("UTC")


# --- reading pages ---------------------------------------------------------------------------


def canonical(fragment: str) -> str:
    """An HTML fragment serialised by lxml, so two spellings of the same tree compare equal."""
    root = lxml.html.fragment_fromstring(fragment.strip(), create_parent="section")
    return re.sub(r">\s+<", "><", lxml.html.tostring(root, encoding="unicode"))


def local_images(tree: lxml.html.HtmlElement) -> list[str]:
    return [
        src
        for img in tree.iter("img")
        for src in (img.get("src"), img.get("data-src"), img.get("data-lazy-src"))
        if src and src.startswith("/images/qupost/")
    ]


# --- landscape: the default theme --------------------------------------------------------------


def test_every_post_has_a_page_with_its_exact_title(
    landscape: HexoSite, default_crawl: Crawl
) -> None:
    pages = landscape.post_pages()
    assert len(pages) == len(default_crawl.site.articles)
    wrong: list[str] = []
    for qupost_id, article in sorted(default_crawl.site.articles.items()):
        tree = parse(landscape.post_page(qupost_id))
        want = expected_title(article.title)
        shown = text_of(one(tree, "h1.article-title"))
        head = one(tree, "title").text_content()
        if shown != want or head != f"{want} | {SITE_TITLE}":
            written = default_crawl.matter(qupost_id)["title"]
            line = _title_line(default_crawl, qupost_id)
            wrong.append(
                f"qupost-{qupost_id}: want {want!r}, page shows {shown!r} (<title> {head!r}); "
                f"front matter line {line!r} (PyYAML reads {written!r})"
            )
    assert not wrong, "titles Hexo renders differently:\n" + "\n".join(wrong)


def _title_line(crawl_: Crawl, qupost_id: str) -> str:
    text = (crawl_.result.posts / f"qupost-{qupost_id}.md").read_text("utf-8")
    return next(line for line in text.splitlines() if line.startswith("title:"))


def misplaced_dates(built: HexoSite, crawl_: Crawl, shown_zone: ZoneInfo) -> list[str]:
    """Posts whose ``<time datetime>`` is not the publish instant, or whose shown date
    is not the publish date in ``shown_zone``."""
    wrong: list[str] = []
    for qupost_id, article in sorted(crawl_.site.articles.items()):
        element = one(parse(built.post_page(qupost_id)), "time.dt-published")
        instant = datetime.fromisoformat(element.get("datetime"))
        shown = date.fromisoformat(text_of(element))
        want_day = article.published.astimezone(shown_zone).date()
        if instant != article.published or shown != want_day:
            wrong.append(
                f"qupost-{qupost_id}: date: {crawl_.matter(qupost_id)['date']!r} -> "
                f"datetime={element.get('datetime')!r} shown {shown} "
                f"(want {article.published.isoformat()}, shown {want_day}); "
                f"off by {(instant - article.published).total_seconds() / 3600:+g} h"
            )
    return wrong


@pytest.mark.parametrize("machine_tz", MACHINE_TZS)
def test_rfc1123_dates_with_hexo_timezone_unset(
    landscape_site: Callable[[str], HexoSite], default_crawl: Crawl, machine_tz: str
) -> None:
    """(A): ``<time datetime>`` is the publish instant; its text is the date in the machine's TZ.

    With ``TZ=Asia/Shanghai`` that is the Asia/Shanghai date.
    """
    wrong = misplaced_dates(landscape_site(machine_tz), default_crawl, ZoneInfo(machine_tz))
    assert not wrong, (
        f"Hexo (timezone unset, rfc1123 dates, machine TZ={machine_tz}) misplaces dates:\n"
        + "\n".join(wrong)
    )


@pytest.mark.parametrize("machine_tz", MACHINE_TZS)
def test_wall_clock_dates_with_hexo_timezone_asia_shanghai(
    shanghai_landscape_site: Callable[[str], HexoSite], shanghai_crawl: Crawl, machine_tz: str
) -> None:
    """(B): ``<time datetime>`` is the publish instant; its text is the date in Asia/Shanghai.

    Whatever the ``TZ`` of the machine running ``hexo generate``.
    """
    wrong = misplaced_dates(shanghai_landscape_site(machine_tz), shanghai_crawl, SITE_TZ)
    assert not wrong, (
        f"Hexo (timezone: Asia/Shanghai, {WALL_CLOCK_FORMAT} dates, machine TZ={machine_tz}) "
        "misplaces dates:\n" + "\n".join(wrong)
    )


def test_category_hierarchy_and_tag_pages(landscape: HexoSite, default_crawl: Crawl) -> None:
    public = landscape.public
    for depth in range(1, len(CATEGORIES) + 1):
        page = public.joinpath("categories", *CATEGORIES[:depth], "index.html")
        assert page.is_file(), f"missing category page {page.relative_to(public)}"
    leaf = parse(public.joinpath("categories", *CATEGORIES, "index.html"))
    listed = {unquote(a.get("href", "")) for a in leaf.iter("a")}
    tags: dict[str, set[str]] = {}
    for qupost_id in default_crawl.site.articles:
        page = landscape.post_page(qupost_id)
        url = "/" + page.parent.relative_to(public).as_posix() + "/"
        assert url in listed, f"{url} is not listed on the 分类 category page"
        tree = parse(page)
        crumbs = [text_of(a) for a in tree.cssselect("a.article-category-link")]
        assert crumbs == list(CATEGORIES)
        post_tags = default_crawl.matter(qupost_id).get("tags", [])
        assert isinstance(post_tags, list)
        for tag in post_tags:
            tags.setdefault(str(tag), set()).add(url)
        # Every category and tag link on a post page leads to a generated page.
        for a in tree.cssselect("a.article-category-link, a.article-tag-list-link"):
            target = landscape.local_file(a.get("href")) / "index.html"
            assert target.is_file(), f"{a.get('href')} on {url} has no page"
    assert set(tags) == {"热点", "娱乐", "科技"}
    for tag, urls in tags.items():
        page = public / "tags" / tag / "index.html"
        assert page.is_file(), f"missing tag page tags/{tag}/"
        hrefs = {unquote(a.get("href", "")) for a in parse(page).iter("a")}
        assert urls <= hrefs, f"tag page {tag} misses {sorted(urls - hrefs)}"


def test_body_is_rendered_as_written_and_every_local_image_resolves(
    landscape: HexoSite, default_crawl: Crawl
) -> None:
    """Markdown leaves the HTML body alone, and each ``/images/qupost/`` src is a public file."""
    for qupost_id in default_crawl.site.articles:
        tree = parse(landscape.post_page(qupost_id))
        entry = one(tree, "div.article-entry")
        inner = "".join(lxml.html.tostring(child, encoding="unicode") for child in entry)
        written = default_crawl.body(qupost_id)
        assert canonical(inner) == canonical(written), f"qupost-{qupost_id} body changed"
        srcs = local_images(entry)
        assert len(srcs) == written.count('src="/images/qupost/'), qupost_id
        for src in srcs:
            file = landscape.local_file(src)
            assert file.is_file(), f"{src} on qupost-{qupost_id} is not in public/"
            source = default_crawl.result.source / file.relative_to(landscape.public)
            assert file.read_bytes() == source.read_bytes()
    seed = one(parse(landscape.post_page(SEED_ID)), "div.article-entry")
    assert len(local_images(seed)) == 4


def test_template_syntax_in_article_text_appears_literally(
    landscape: HexoSite, default_crawl: Crawl
) -> None:
    assert default_crawl.matter(HOSTILE_ID)["disableNunjucks"] is True
    entry = one(parse(landscape.post_page(HOSTILE_ID)), "div.article-entry")
    text = text_of(entry)
    for literal in ("{{ site.title }}", "{% raw %}", "{{ page.title }}", "{# 注释 #}"):
        assert literal in text, f"{literal!r} not shown literally in: {text!r}"
    assert SITE_TITLE not in text
    # Markdown syntax inside the HTML body stays text.
    assert "**不是粗体** _也不是斜体_ # 不是标题 [不是链接](http://example.org/)" in text
    assert not entry.cssselect("strong, em, h1, a[href]"), lxml.html.tostring(
        entry, encoding="unicode"
    )


def test_no_injected_script_survives(landscape: HexoSite, default_crawl: Crawl) -> None:
    theme_scripts = len(one(parse(landscape.post_page(SEED_ID)), "body").cssselect("script"))
    for page in landscape.post_pages():
        raw = page.read_text("utf-8")
        assert "alert(" not in raw, f"{page}: injected script text"
        tree = parse(page)
        entry = one(tree, "div.article-entry")
        assert not entry.cssselect("script, iframe, style, object, embed")
        for element in entry.iter():
            for name, value in element.attrib.items():
                assert not name.lower().startswith("on"), f"{page}: {name}={value!r}"
                assert not value.strip().lower().startswith("javascript:"), f"{page}: {value!r}"
        assert len(one(tree, "body").cssselect("script")) == theme_scripts, page


# --- theme profiles: the cover keys, with the real themes -----------------------------------------


def test_butterfly_profile_cover_and_top_img(
    hexo_modules: Path, butterfly_crawl: Crawl, tmp_path: Path
) -> None:
    built = build_hexo_site(
        hexo_modules, butterfly_crawl.result.source, tmp_path / "site", "butterfly"
    )
    index = parse(built.public / "index.html")
    card_covers = {
        a.get("href"): img.get("src")
        for a in index.cssselect("div.recent-post-item .post_cover a")
        for img in a.cssselect("img.post-bg")
    }
    for qupost_id, article in butterfly_crawl.site.articles.items():
        matter = butterfly_crawl.matter(qupost_id)
        assert not {"headimg", "thumbnail"} & set(matter), matter
        cover = matter["cover"]
        assert isinstance(cover, str) and matter["top_img"] == cover, matter
        assert cover.lower().endswith(IMAGE_EXTENSIONS), cover
        assert built.local_file(cover).is_file(), f"{cover} is not in public/"
        page = built.post_page(qupost_id)
        tree = parse(page)
        header = one(tree, "header#page-header")
        assert f"background-image: url({cover})" in header.get("style", ""), header.get("style")
        assert text_of(one(tree, "h1.post-title")) == expected_title(article.title) or (
            qupost_id == NUMERIC_ID  # reported by the landscape title test
        )
        body = one(tree, "#article-container")
        assert not body.cssselect("script") and "alert(" not in page.read_text("utf-8")
        for src in local_images(body):
            assert built.local_file(src).is_file(), src
        url = "/" + page.parent.relative_to(built.public).as_posix() + "/"
        assert card_covers.get(url) == cover, f"index card of {url}: {card_covers.get(url)}"


def test_default_profile_headimg_and_thumbnail_with_volantis(
    hexo_modules: Path, default_crawl: Crawl, tmp_path: Path
) -> None:
    built = build_hexo_site(
        hexo_modules, default_crawl.result.source, tmp_path / "site", "volantis"
    )
    index_covers = {
        img.get("src") for img in parse(built.public / "index.html").cssselect("img.headimg")
    }
    for qupost_id in default_crawl.site.articles:
        matter = default_crawl.matter(qupost_id)
        cover = matter["headimg"]
        assert isinstance(cover, str) and matter["thumbnail"] == cover, matter
        assert cover.lower().endswith(IMAGE_EXTENSIONS), cover
        assert built.local_file(cover).is_file(), f"{cover} is not in public/"
        page = built.post_page(qupost_id)
        # Read from the raw tag: Volantis writes the title unescaped into its alt
        # (layout/_partial/meta.ejs), so a title with '"' breaks the parsed attributes.
        headimg = re.findall(r"<img [^\n]*?class='headimg' [^\n]*?src='([^']*)'", page.read_text())
        assert headimg == [cover], f"{page}: header image {headimg}, want {cover}"
        tree = parse(page)
        assert one(tree, "img.thumbnail").get("src") == cover
        assert cover in index_covers, f"{cover} has no card on the index page"
        for src in local_images(one(tree, "article#post")):
            assert built.local_file(src).is_file(), src
