"""A fake Qutoutiao: list API, article pages, detail JSON, JSONP and an image CDN.

The shapes follow what the real site serves (README "What a post looks
like" and docs/architecture.md), including its warts: ad rows without ids, ``&amp;`` and ``\\/`` in
URLs, a rotating ``key=`` parameter, lazy images with placeholder sources,
inline scripts, an empty ``#img`` element, deleted pages and 5xx answers.
``FakeSite.change_layout()`` serves a redesign instead (renamed classes and
fields) for the changed-site alarm; by default the site serves the current one.
Everything is generated, deterministic and kept in memory.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeVar
from urllib.parse import parse_qs

from fakesite.images import CONTENT_TYPES, make_image

BEIJING = timezone(timedelta(hours=8))
_K = TypeVar("_K")
PLACEHOLDER = "/static/img/placeholder.gif"

_SENTENCES = [
    "近日，记者从相关部门获悉，今年以来全市新增就业岗位持续增长。",
    "据介绍，项目建成后将惠及周边十余个社区的居民。",
    "专家表示，这一做法为其他城市提供了可复制的经验。",
    "“我们会继续做好后续服务工作。”负责人说。",
    "截至目前，已累计完成投资约12.5亿元，进度超过预期。",
    "业内人士认为，市场需求仍将保持稳定。",
    "该活动吸引了来自全国各地的数千名参与者。",
    "相关负责人提醒，市民出行前应提前了解天气情况。",
]


@dataclass
class FakeImage:
    path: str
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass
class FakeArticle:
    """One article and how the fake site should serve it."""

    id: str
    title: str
    published: datetime
    source_name: str = "封面新闻"
    nickname: str = ""
    channels: list[int] = field(default_factory=lambda: [1])
    # Body parts in order: ("p", text), ("html", inner HTML of a <p>) or
    # ("img", image path, declared "W,H" or None).
    body: list[tuple[str, ...]] = field(default_factory=list)
    cover: str | None = None
    # page | detail (no div.content) | jsonp (no div.content, no detail_url)
    # | deleted (404) | nosuchkey (object-store error body) | video
    # | changed (page, detail JSON and JSONP in a redesigned layout that
    # qupost's parsers do not know: renamed classes and fields)
    mode: str = "page"
    charset: str = "utf-8"
    info_time: str | None = None
    list_publish_time: bool = True
    extra_content_html: str = ""
    # The list row's summary; the real API leaves it empty for most articles.
    introduction: str = ""

    @property
    def date_path(self) -> str:
        return self.published.astimezone(BEIJING).strftime("%Y/%m/%d")

    @property
    def page_path(self) -> str:
        return f"/detail/{self.date_path}/{self.id}.html"

    @property
    def publish_ms(self) -> int:
        return int(self.published.timestamp() * 1000)


@dataclass
class Fault:
    """A canned answer for one path; ``times`` answers, then the normal page again."""

    status: int = 503
    body: bytes = b"Service Unavailable"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})
    times: int = 1
    delay: float = 0.0


def redirect(location: str, status: int = 302, times: int = 1_000_000) -> Fault:
    """A fault that sends the client elsewhere (an open redirect on the site)."""
    return Fault(
        status=status,
        body=b"moved",
        headers={"Content-Type": "text/plain", "Location": location},
        times=times,
    )


class FakeSite:
    def __init__(self) -> None:
        self.articles: dict[str, FakeArticle] = {}
        self.images: dict[str, FakeImage] = {}
        self.faults: dict[str, Fault] = {}
        # Faults for one channel's list requests only (keyed by cid).
        self.channel_faults: dict[int, Fault] = {}
        # Raw rows appended to the first list page of a channel: hostile
        # shapes (no id, path-like ids, duplicates) that no FakeArticle makes.
        self.extra_rows: dict[int, list[object]] = {}
        self.ads_per_page = 1
        # "current", or "changed": list rows name their id and URL differently.
        self.list_layout = "current"
        # Re-posts of a story under another id (fakesite.stories): re-post id → story id.
        self.duplicate_of: dict[str, str] = {}
        self.base_url = "http://127.0.0.1"
        self.log: list[tuple[str, int]] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._key = 0

    # --- building ----------------------------------------------------------------
    def add_image(self, path: str, width: int, height: int, fmt: str = "jpeg", *,
                  seed: int = 0, detail: bool = False, data: bytes | None = None,
                  content_type: str | None = None) -> str:  # fmt: skip
        if data is None:
            data = make_image(width, height, fmt, seed=seed, detail=detail)
        ctype = content_type or CONTENT_TYPES.get(fmt, "application/octet-stream")
        self.images[path] = FakeImage(path, data, ctype, width, height)
        return path

    def add_article(self, article: FakeArticle) -> FakeArticle:
        self.articles[article.id] = article
        return article

    def change_layout(self, *, pages: bool = True, rows: bool = True) -> None:
        """Serve a redesigned site: every article page (and its detail JSON) and/or list row."""
        if pages:
            for article in self.articles.values():
                if article.mode in ("page", "detail", "jsonp"):
                    article.mode = "changed"
        if rows:
            self.list_layout = "changed"

    # --- request log ---------------------------------------------------------------
    def record(self, path: str, status: int) -> None:
        with self.lock:
            self.log.append((path, status))
            self.counts[path.split("?", 1)[0]] += 1

    def requests_to(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for path, _ in self.log if path.startswith(prefix))

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()
            self.counts.clear()

    def next_key(self) -> str:
        with self.lock:
            self._key += 1
            return hashlib.md5(str(self._key).encode()).hexdigest()[:16]

    # --- responses -------------------------------------------------------------------
    def take_fault(self, path: str, query: str = "") -> Fault | None:
        """The canned answer for a request, if any, counting down its ``times``."""
        with self.lock:
            if path in self.faults:
                return _take(self.faults, path)
            if path == "/content/outList":
                cid = parse_qs(query).get("cid", [""])[-1]
                if cid.isdigit() and int(cid) in self.channel_faults:
                    return _take(self.channel_faults, int(cid))
            return None

    def list_json(self, query: str) -> bytes:
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        cid = int(params.get("cid", "1") or 1)
        limit = max(1, min(100, int(params.get("limit", "10") or 10)))
        min_time = params.get("min_time")
        page = max(1, int(params.get("page", "1") or 1))
        listed = sorted(
            (a for a in self.articles.values() if cid in a.channels),
            key=lambda a: (a.publish_ms, a.id),
            reverse=True,
        )
        if min_time and min_time.isdigit():
            chosen = [a for a in listed if a.publish_ms < int(min_time)][:limit]
        else:
            chosen = listed[(page - 1) * limit : page * limit]
        rows: list[object] = []
        for i, article in enumerate(chosen):
            if i == 1 and self.ads_per_page:
                rows.append(self._ad_row(cid))
            rows.append(self._row(article))
        if page == 1 and not min_time:
            rows.extend(self.extra_rows.get(cid, []))
        now_s = int(datetime.now(UTC).timestamp())
        envelope = {
            "code": 0,
            "message": "成功",
            "showErr": 0,
            "currentTime": now_s,
            "data": {
                "min_time": str(chosen[-1].publish_ms) if chosen else "0",
                "max_time": str(chosen[0].publish_ms) if chosen else "0",
                "show_time": now_s,
                "data": rows,
                "top": [],
            },
        }
        # The real API escapes slashes, as PHP's json_encode does.
        text = json.dumps(envelope, ensure_ascii=False).replace("/", "\\/")
        return text.encode("utf-8")

    def _row(self, article: FakeArticle) -> dict[str, object]:
        key = self.next_key()
        url = f"{self.base_url}{article.page_path}?content_type=1&amp;key={key}&amp;dtu=200"
        row: dict[str, object] = {
            "id": article.id,
            "title": article.title,
            "url": url,
            "publish_time": str(article.publish_ms) if article.list_publish_time else "0",
            "show_time": str(int(datetime.now(UTC).timestamp())),
            "source_name": article.source_name,
            "nickname": article.nickname,
            "introduction": article.introduction,
            "cover": [f"{self.base_url}{article.cover}?imageView2/2/w/230/q/80"]
            if article.cover
            else [],
            "content_type": "3" if article.mode == "video" else "1",
            "type": "article",
            "read_count": str(random.Random(article.id).randrange(100, 90000)),
        }
        if article.mode != "jsonp":
            row["detail_url"] = f"{self.base_url}/detail/json/{article.id}.json?key={key}"
        if self.list_layout == "changed":
            for old, new in (("id", "item_id"), ("url", "share_link"), ("detail_url", "api")):
                if old in row:
                    row[new] = row.pop(old)
        return row

    def _ad_row(self, cid: int) -> dict[str, object]:
        return {
            "type": "ad",
            "title": "限时优惠，点击领取",
            "cover": [f"{self.base_url}/ads/banner.jpg"],
            "slot_id": f"7{cid:03d}",
            "content_type": "1",
        }

    def content_html(self, article: FakeArticle) -> str:
        parts: list[str] = []
        for part in article.body:
            if part[0] == "p":
                parts.append(f"<p>{html.escape(part[1], quote=False)}</p>")
            elif part[0] == "html":
                parts.append(f"<p>{part[1]}</p>")
            else:
                path, declared = part[1], (part[2] if len(part) > 2 else None)
                src = f"{self.base_url}{path}?imageView2/2/w/640"
                size = f' data-size="{declared}"' if declared else ""
                parts.append(
                    f'<p><img src="{PLACEHOLDER}" data-src="{src}"{size} class="lazy"></p>'
                )
        return "".join(parts) + article.extra_content_html

    def page_html(self, article: FakeArticle) -> bytes:
        if article.mode == "changed":
            return self.changed_page_html(article)
        time_text = article.info_time or article.published.astimezone(BEIJING).strftime(
            "%Y-%m-%d %H:%M"
        )
        title = html.escape(article.title, quote=False)
        content = (
            f'<div class="content">{self.content_html(article)}</div>'
            if article.mode == "page"
            else '<div class="loading">加载中…</div>'
        )
        page = (
            "<!DOCTYPE html>\n<html>\n<head>\n"
            f'<meta charset="{article.charset}">\n'
            '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
            f"<title>{title}</title>\n"
            "<script>window.__QTT__={env:'prod',track:function(){}};</script>\n"
            "</head>\n<body>\n"
            f'<div class="article">\n<h1>{title}</h1>\n'
            f'<div class="info"><span class="source">{html.escape(article.source_name)}</span> '
            f'<span class="time">{time_text}</span></div>\n'
            f"{content}\n"
            '<div id="img"></div>\n'
            "</div>\n"
            '<div class="recommend"><h3>相关推荐</h3></div>\n'
            '<script src="/static/js/detail.js"></script>\n'
            "<script>document.querySelectorAll('img.lazy').forEach(function(i){i.src=i.dataset.src});</script>\n"
            "</body>\n</html>\n"
        )
        return page.encode(article.charset)

    def changed_page_html(self, article: FakeArticle) -> bytes:
        """The page in a redesign: no div.article, h1, .info or div.content any more."""
        title = html.escape(article.title, quote=False)
        page = (
            "<!DOCTYPE html>\n<html>\n<head>\n"
            f'<meta charset="{article.charset}">\n'
            f"<title>{title}</title>\n"
            "</head>\n<body>\n"
            '<main class="news-detail">\n'
            f'<div class="news-detail__title">{title}</div>\n'
            f'<div class="news-detail__meta">{html.escape(article.source_name)}</div>\n'
            f'<section class="news-detail__body">{self.content_html(article)}</section>\n'
            "</main>\n</body>\n</html>\n"
        )
        return page.encode(article.charset)

    def detail_json(self, article: FakeArticle) -> dict[str, object]:
        if article.mode == "changed":
            return {
                "item_id": article.id,
                "headline": article.title,
                "body_html": self.content_html(article),
                "author_name": article.source_name,
            }
        detail = (
            json.dumps({"video_url": f"{self.base_url}/video/{article.id}.mp4"})
            if article.mode == "video"
            else self.content_html(article)
        )
        return {
            "id": article.id,
            "title": article.title,
            "detail": detail,
            "publish_info": article.published.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
            "sourceName": article.source_name,
        }


def _take(table: dict[_K, Fault], key: _K) -> Fault:
    fault = table[key]
    fault.times -= 1
    if fault.times <= 0:
        del table[key]
    return fault


def lorem(rng: random.Random, sentences: int = 3) -> str:
    return "".join(rng.choice(_SENTENCES) for _ in range(sentences))


def build_site(
    articles: int = 20,
    *,
    channels: tuple[int, ...] = (1,),
    images_per_article: int = 2,
    paragraphs: int = 4,
    image_size: tuple[int, int] = (640, 360),
    detail_images: bool = False,
    seed: int = 7,
    start: datetime | None = None,
    first_id: int = 1638600000,
) -> FakeSite:
    """A site with ``articles`` ordinary articles spread over ``channels``."""
    rng = random.Random(seed)
    site = FakeSite()
    start = start or datetime(2021, 12, 4, 13, 0, tzinfo=UTC)
    for n in range(articles):
        published = start - timedelta(minutes=7 * n)
        article_id = str(first_id + n)
        day = published.astimezone(BEIJING).strftime("%Y/%m/%d")
        body: list[tuple[str, ...]] = []
        image_paths: list[str] = []
        for k in range(images_per_article):
            digest = hashlib.md5(f"{article_id}-{k}".encode()).hexdigest()
            path = f"/qupost/img/{day}/{digest}.jpeg"
            width, height = image_size
            site.add_image(path, width, height, seed=n * 31 + k, detail=detail_images)
            image_paths.append(path)
        for p in range(paragraphs):
            body.append(("p", f"第{p + 1}段。" + lorem(rng)))
            if p < len(image_paths):
                w, h = image_size
                body.append(("img", image_paths[p], f"{w},{h}"))
        site.add_article(
            numbered_article(
                n,
                article_id,
                published,
                rng,
                cid=channels[n % len(channels)],
                body=body,
                cover=image_paths[0] if image_paths else None,
            )
        )
    return site


def numbered_article(
    n: int,
    article_id: str,
    published: datetime,
    rng: random.Random,
    *,
    cid: int,
    body: list[tuple[str, ...]],
    cover: str | None,
) -> FakeArticle:
    """Article number ``n`` of a generated site: a numbered title, a random source and nickname."""
    return FakeArticle(
        id=article_id,
        title=f"测试文章{n + 1}：{lorem(rng, 1)[:18]}",
        published=published,
        source_name=rng.choice(["封面新闻", "新华社", "中国新闻网", ""]),
        nickname="趣友" + str(n % 7),
        channels=[cid],
        body=body,
        cover=cover,
        # One article in five carries the list's own summary, as on the real site.
        introduction=f"摘要{n + 1}：{lorem(rng, 1)[:40]}" if n % 5 == 2 else "",
    )
