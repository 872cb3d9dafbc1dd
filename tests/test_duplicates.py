"""Near-duplicate stories: fingerprints, the catalog's lookup, and a labelled corpus.

The corpus is generated here (``fakesite.stories``): pairs of a story and its
re-post after one kind of edit, and pairs of two different stories that share
a source's frame (byline, editor line, footer) and a topic, often the same
city and organisation, sometimes the same event and a quoted sentence.  Every
article goes through the crawl's own cleaner and fingerprint before it
reaches the catalog.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import ConfigError, QupostConfig
from fakesite.stories import EDITS, SOURCES, TOPICS, Story, StoryWriter, repost
from pipelines.clean import normalise
from storage import duplicates
from storage.article import Article, ArticleSource
from storage.check import check_catalog, parse_post_file, repair_catalog
from storage.duplicates import DuplicateIndex, Match
from storage.fingerprint import (
    BANDS,
    band_keys,
    decode,
    fold,
    is_boilerplate,
    sketch,
    strip_dateline,
    text_lines,
)
from storage.hexo import HexoWriter, RenderError, RenderOptions, front_matter, render_post
from storage.repository import Repository
from tests.conftest import split_post

BASE = datetime(2021, 12, 4, 5, 0, tzinfo=UTC)
KINDS = [*EDITS, "re-aggregated"]
NEAR_PAIRS = 264  # 33 of each kind
FAR_PAIRS = 264


# --- the fingerprint's parts ---------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "封面新闻见习记者 曹钰",
        "红星新闻记者 王五 实习生 李四",
        "责任编辑：张三",
        "编辑 张三 责编 李四",
        "【纠错】 【责任编辑：王五】",
        "文/张三 图/李四",
        "（完）",
        "(完)",
        "声明：本文由入驻趣头条的作者撰写，观点仅代表作者本人，不代表趣头条立场。",
        "喜欢的朋友点个关注，每天为您分享更多精彩内容！",
        "（下载红星新闻，报料有奖！）",
        "图片来源于网络，如有侵权请联系删除。",
    ],
)
def test_credits_and_stock_footers_are_boilerplate(line: str) -> None:
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "记者从现场了解到，改造工作已经完成。",
        "近日，封面新闻从重庆市住房和城乡建设委员会获悉，重庆市将改造老旧小区约1亿平方米。",
        "据介绍，项目资金来源更加多元。",
        "重庆老旧小区加装电梯",
    ],
)
def test_story_lines_are_not_boilerplate(line: str) -> None:
    assert not is_boilerplate(line)


def test_datelines_are_cut_from_the_first_line() -> None:
    assert (
        strip_dateline("新华社北京12月4日电（记者王五）重庆将改造老旧小区。")
        == "重庆将改造老旧小区。"
    )
    assert (
        strip_dateline("中新网成都5月1日电 (记者 李四)成都发布寒潮预警。") == "成都发布寒潮预警。"
    )
    assert strip_dateline("本报讯（记者 张三）今年以来") == "今年以来"
    # A date opening the story's own first sentence stays.
    assert fold(strip_dateline("12月4日，重庆将改造老旧小区。")) == "12月4日重庆将改造老旧小区"


def test_punctuation_width_and_whitespace_are_folded_away() -> None:
    assert fold("“十四五”期间，重庆 将改造 4.35万栋！") == fold('"十四五"期间,重庆将改造4．35万栋!')
    assert fold("ＡＢＣ １２３") == "abc123"


def test_text_lines_follow_blocks_and_breaks() -> None:
    body = '<p>第一段<br>第二行</p><h2>小标题</h2><p><img src="http://x/a.jpeg"></p><ul><li>一</li></ul>'
    assert text_lines(body) == ["第一段", "第二行", "小标题", "一"]
    assert text_lines("") == [] and text_lines("<p> </p>") == []


def test_short_texts_get_no_fingerprint(tmp_path: Path) -> None:
    repo = Repository.open(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with repo.transaction() as tx:
            short = article("1", "<p>封面新闻记者 曹钰</p><p>图为现场。</p>")
            again = article("2", "<p>图为现场。</p>")
            assert tx.upsert_article(short) == "new" and tx.upsert_article(again) == "new"
        assert short.fingerprint == "" and again.duplicate_of is None
    finally:
        repo.close()


# --- the labelled corpus ---------------------------------------------------------------


@dataclass
class Pair:
    kind: str
    first: Story
    second: Story
    same: bool


def build_corpus(seed: int = 2021) -> list[Pair]:
    """Near-duplicate pairs of every edit kind, and different stories sharing frame and topic."""
    rng = random.Random(seed)
    writer = StoryWriter(rng)
    pairs: list[Pair] = []
    for n in range(NEAR_PAIRS):
        topic, source = rng.choice(TOPICS), rng.choice(SOURCES)
        story = writer.story(topic, source, paragraphs=rng.choice([2, 3, 5, 8, 12]))
        kind = KINDS[n % len(KINDS)]
        pairs.append(Pair(kind, story, repost(rng, story, kind, writer, topic), True))
    for n in range(FAR_PAIRS):
        topic, source = rng.choice(TOPICS), rng.choice(SOURCES)
        event = writer.event(topic)
        other = writer.event(topic)
        kind = ("same event", "same city and organisation", "same topic")[n % 3]
        if kind == "same event":
            other = event
        elif kind == "same city and organisation":
            other.update(city=event["city"], org=event["org"])
        frame = writer.frame(source, event)
        # Half are briefs of one paragraph, where the frame is much of the text.
        lengths = [1] if n % 4 < 2 else [2, 3, 5, 8]
        first = writer.story(topic, source, event=event, paragraphs=rng.choice(lengths))
        # Half share the very byline and footer (the same reporter and editor), all the source's.
        second_frame = frame if n % 2 else writer.frame(source, other)
        second = writer.story(
            topic, source, event=other, paragraphs=rng.choice(lengths), frame=second_frame
        )
        if kind == "same event" and len(first.paragraphs) > 1:
            # A follow-up quotes a sentence of the first report (not all of a brief: that
            # would be the first report again).
            quoted = rng.choice(first.paragraphs).split("。")[0] + "。"
            second.paragraphs.insert(rng.randint(0, len(second.paragraphs)), quoted)
        pairs.append(Pair(kind, first, second, False))
    return pairs


def article(qupost_id: str, html: str, *, title: str = "标题", author: str = "封面新闻") -> Article:
    """An article as the crawl hands it to storage: cleaned, dated, fingerprinted."""
    item = Article(
        qupost_id,
        f"http://html2.qktoutiao.com/detail/2021/12/04/{qupost_id}.html",
        ArticleSource(list_title=title, list_author=author, html=html),
        channels=(1,),
        crawled_at=BASE,
        published_at=BASE - timedelta(minutes=int(qupost_id) % 1000),
        date_source="list",
    )
    normalise(item)
    item.sketch = sketch(item.body_html)
    return item


def story_article(qupost_id: str, story: Story) -> Article:
    return article(qupost_id, story.html(), title=story.title, author=story.source)


@dataclass
class Scores:
    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    @property
    def precision(self) -> float:
        claimed = self.true_positive + self.false_positive
        return self.true_positive / claimed if claimed else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive / (self.true_positive + self.false_negative)


def evaluate(repo: Repository, pairs: list[Pair]) -> tuple[Scores, Counter[str]]:
    """Store every pair's first story (in a shuffled order), then look up every second one.

    A duplicate claimed while storing the first stories (all different) is a
    false positive too.  Misses are counted by kind.
    """
    scores = Scores()
    misses: Counter[str] = Counter()
    order = list(range(len(pairs)))
    random.Random(7).shuffle(order)
    with repo.transaction() as tx:
        for i in order:
            stored = story_article(str(1_000_000 + i), pairs[i].first)
            assert tx.upsert_article(stored) == "new"
            if stored.duplicate_of is not None:
                scores.false_positive += 1
                misses[f"stored as a duplicate: {pairs[i].kind}"] += 1
    with repo.reading() as tx:
        index = DuplicateIndex(tx.conn)
        for i, pair in enumerate(pairs):
            second = story_article(str(2_000_000 + i), pair.second)
            found: Match | None = index.find(
                index.story(second.sketch, second.body_html, second.author),
                exclude=second.qupost_id,
            )
            hit = found is not None and found.qupost_id == str(1_000_000 + i)
            if pair.same and hit:
                scores.true_positive += 1
            elif pair.same:
                scores.false_negative += 1
                misses[pair.kind] += 1
                scores.false_positive += found is not None
            elif found is not None:
                scores.false_positive += 1
                misses[f"different stories matched: {pair.kind}"] += 1
            else:
                scores.true_negative += 1
    return scores, misses


@pytest.fixture(scope="module")
def corpus() -> list[Pair]:
    pairs = build_corpus()
    kinds = Counter(p.kind for p in pairs if p.same)
    assert sum(kinds.values()) >= 200 and sum(not p.same for p in pairs) >= 200
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 30
    return pairs


def report(label: str, scores: Scores, misses: Counter[str]) -> None:
    print(
        f"\n{label}: precision {scores.precision:.4f}, recall {scores.recall:.4f} "
        f"(TP {scores.true_positive}, FP {scores.false_positive}, "
        f"FN {scores.false_negative}, TN {scores.true_negative}); misses {dict(misses)}"
    )


def test_corpus_precision_and_recall(tmp_path: Path, corpus: list[Pair]) -> None:
    """A catalog that has seen each source's posts before: its boilerplate is learned."""
    repo = Repository.open(f"sqlite:///{tmp_path / 'corpus.db'}")
    try:
        scores, misses = evaluate(repo, corpus)
    finally:
        repo.close()
    report("near-duplicate corpus", scores, misses)
    assert scores.precision >= 0.99, misses
    assert scores.recall >= 0.95, misses


def test_corpus_without_learned_boilerplate(
    tmp_path: Path, corpus: list[Pair], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the patterns: what a catalog does before it has seen a source's posts."""
    monkeypatch.setattr(duplicates, "SHARED_POSTS", 10**9)
    repo = Repository.open(f"sqlite:///{tmp_path / 'cold.db'}")
    try:
        scores, misses = evaluate(repo, corpus)
    finally:
        repo.close()
    report("near-duplicate corpus, boilerplate not learned", scores, misses)
    assert scores.recall >= 0.95, misses


# --- the catalog's verbs -----------------------------------------------------------------


@pytest.fixture
def sqlite_repo(tmp_path: Path) -> Iterator[Repository]:
    repo = Repository.open(f"sqlite:///{tmp_path / 'c.db'}")
    yield repo
    repo.close()


def a_story(seed: int, paragraphs: int = 6) -> tuple[Story, StoryWriter, random.Random]:
    rng = random.Random(seed)
    writer = StoryWriter(rng)
    return writer.story(TOPICS[seed % len(TOPICS)], SOURCES[0], paragraphs=paragraphs), writer, rng


def test_a_re_post_is_recorded_as_a_duplicate_of_the_first(sqlite_repo: Repository) -> None:
    story, writer, rng = a_story(1)
    copy = repost(rng, story, "re-aggregated", writer, TOPICS[1])
    with sqlite_repo.transaction() as tx:
        first, second = story_article("1001", story), story_article("1002", copy)
        assert tx.upsert_article(first) == "new" and tx.upsert_article(second) == "new"
    assert first.duplicate_of is None and second.duplicate_of == "1001"
    with sqlite_repo.reading() as tx:
        stored = tx.load_article("1002")
        canonical = tx.load_article("1001")
        bands = tx.conn.exec_driver_sql("SELECT post_id, count(*) FROM post_bands GROUP BY 1")
        assert bands.all() == [(1, BANDS)]  # only the first telling is indexed
    assert stored is not None and stored.duplicate_of == "1001"
    assert canonical is not None and decode(canonical.fingerprint) is not None


def test_storing_the_same_article_again_keeps_its_decision(sqlite_repo: Repository) -> None:
    story, writer, rng = a_story(2)
    with sqlite_repo.transaction() as tx:
        tx.upsert_article(story_article("1001", story))
        tx.upsert_article(story_article("1002", story))
    changed = repost(rng, story, "paragraph added", writer, TOPICS[2])
    with sqlite_repo.transaction() as tx:
        again = story_article("1002", changed)
        assert tx.upsert_article(again) == "updated"
        assert again.duplicate_of == "1001"
        canonical = story_article("1001", changed)
        assert tx.upsert_article(canonical) == "updated"
        assert canonical.duplicate_of is None
    with sqlite_repo.reading() as tx:
        rows = tx.conn.exec_driver_sql("SELECT key, post_id FROM post_bands").all()
    # The canonical post's bands are those of its new text, and only those.
    new_keys = band_keys(decode(canonical.fingerprint) or ())
    assert sorted(rows) == sorted((k, 1) for k in set(new_keys)) and len(new_keys) == BANDS


def test_a_deleted_canonical_post_is_not_matched(sqlite_repo: Repository) -> None:
    story, _, _ = a_story(3)
    with sqlite_repo.transaction() as tx:
        tx.upsert_article(story_article("1001", story))
        tx.mark_deleted("1001", BASE)
        second = story_article("1002", story)
        tx.upsert_article(second)
    # The story lives on in the re-post: it is the canonical post now.
    assert second.duplicate_of is None


def test_a_band_key_many_posts_share_is_read_only_in_part(
    sqlite_repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hot key returns its latest posts only; a re-post meets its story in its other bands."""
    story, writer, rng = a_story(6)
    with sqlite_repo.transaction() as tx:
        first = story_article("1001", story)
        tx.upsert_article(first)
        for n in range(2, 40):
            other, _, _ = a_story(1000 + n)
            tx.upsert_article(story_article(str(1000 + n), other))
        hot = band_keys(decode(first.fingerprint) or ())[0]
        tx.conn.exec_driver_sql(
            f"INSERT INTO post_bands (key, post_id) SELECT {hot}, id FROM posts WHERE id > 1"
        )
    monkeypatch.setattr(duplicates, "PER_BAND", 2)
    duplicates._queries.cache_clear()
    try:
        copy = story_article("2001", repost(rng, story, "paragraph reworded", writer, TOPICS[6]))
        with sqlite_repo.reading() as tx:
            index = DuplicateIndex(tx.conn)
            found = index.find(index.story(copy.sketch, "", copy.author), exclude="2001")
    finally:
        duplicates._queries.cache_clear()
    assert found is not None and found.qupost_id == "1001"


def test_boilerplate_a_source_repeats_is_learned(sqlite_repo: Repository) -> None:
    """Short different stories framed by one long footer no pattern knows."""
    footer = (
        "<p>城市日报是面向城市居民的综合性日报，每天为读者提供本地新闻、民生服务和生活资讯。</p>"
    )
    footer += "<p>城市日报，陪你读懂这座城市的每一天，我们明天见。</p>"
    rng = random.Random(4)
    writer = StoryWriter(rng)
    bodies = []
    for _ in range(6):
        topic = TOPICS[0]
        text = writer.paragraph(topic, writer.event(topic), sentences=1)
        bodies.append(f"<p>{text}</p>{footer}")
    found = []
    with sqlite_repo.transaction() as tx:
        for n, body in enumerate(bodies):
            item = article(str(1001 + n), body, author="城市日报")
            tx.upsert_article(item)
            found.append(item.duplicate_of)
    # The first two, before the footer was known, may match; from the fourth on it is known.
    assert found[3:] == [None, None, None], found
    with sqlite_repo.reading() as tx:
        index = DuplicateIndex(tx.conn)
        learned = index.learned("城市日报", [line.digest for line in sketch(footer).lines])
        elsewhere = index.learned("封面新闻", [line.digest for line in sketch(footer).lines])
    assert len(learned) == 2 and not elsewhere


# --- two writers at once -----------------------------------------------------------------


def store_at_once(repo: Repository, articles: list[Article]) -> list[BaseException]:
    """Store each article from its own thread, all released together."""
    barrier = threading.Barrier(len(articles))
    errors: list[BaseException] = []

    def store(item: Article) -> None:
        try:
            barrier.wait()
            with repo.transaction() as tx:
                tx.upsert_article(item)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(a,)) for a in articles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def canonical_counts(repo: Repository, groups: list[list[str]]) -> list[int]:
    with repo.reading() as tx:
        rows = dict(tx.conn.exec_driver_sql("SELECT qupost_id, duplicate_of FROM posts").all())
    return [sum(rows[i] is None for i in group) for group in groups]


def race(repo: Repository, rounds: int) -> list[int]:
    groups = []
    for n in range(rounds):
        story, writer, rng = a_story(100 + n)
        copy = repost(rng, story, "another byline", writer, TOPICS[0])
        ids = [str(5000 + 2 * n), str(5001 + 2 * n)]
        errors = store_at_once(repo, [story_article(ids[0], story), story_article(ids[1], copy)])
        assert not errors, errors
        groups.append(ids)
    return canonical_counts(repo, groups)


def test_two_copies_stored_at_once_end_with_one_canonical_post_on_sqlite(
    sqlite_repo: Repository,
) -> None:
    assert race(sqlite_repo, 10) == [1] * 10


@pytest.mark.services
def test_two_copies_stored_at_once_end_with_one_canonical_post_on_postgresql(
    pg_url: str,
) -> None:
    repo = Repository.open(pg_url)
    try:
        assert race(repo, 20) == [1] * 20
    finally:
        repo.close()


# --- the policy: settings, front matter, files, the catalog check ---------------------------


def test_the_policy_is_read_once_keep_by_default() -> None:
    assert QupostConfig.from_settings(Settings()).render.duplicates == "keep"
    marked = QupostConfig.from_settings(Settings({"QUPOST_DUPLICATES": " Mark "}))
    assert marked.render.duplicates == "mark"
    with pytest.raises(ConfigError, match="QUPOST_DUPLICATES: expected one of keep, mark, skip"):
        QupostConfig.from_settings(Settings({"QUPOST_DUPLICATES": "hide"}))
    with pytest.raises(RenderError, match="QUPOST_DUPLICATES"):
        RenderOptions(duplicates="hide")


def duplicate_post(**values: object) -> Article:
    post = article("1002", "<p>正文</p>")
    post.duplicate_of = "1001"
    for name, value in values.items():
        setattr(post, name, value)
    return post


def test_a_marked_duplicate_says_what_it_duplicates_and_is_not_published() -> None:
    marked = front_matter(duplicate_post(), None, RenderOptions(duplicates="mark"))
    assert marked["published"] is False and marked["duplicate_of"] == "1001"
    keys = list(marked)
    assert keys.index("comments") < keys.index("published") < keys.index("date")
    # Written as text, like qupost_id, however many digits it has.
    text = render_post(duplicate_post(), RenderOptions(duplicates="mark"))
    assert "duplicate_of: '1001'" in text and split_post(text)[0]["duplicate_of"] == "1001"
    for policy in ("keep", "skip"):
        matter = front_matter(duplicate_post(), None, RenderOptions(duplicates=policy))
        assert "duplicate_of" not in matter and "published" not in matter
    # A canonical post is rendered the same under every policy.
    canonical = duplicate_post(duplicate_of=None)
    assert (
        len({render_post(canonical, RenderOptions(duplicates=p)) for p in ("keep", "mark", "skip")})
        == 1
    )


def test_skip_removes_a_duplicate_post_file(tmp_path: Path) -> None:
    keep = HexoWriter(tmp_path, RenderOptions(duplicates="keep"))
    skip = HexoWriter(tmp_path, RenderOptions(duplicates="skip"))
    path = tmp_path / "_posts" / "qupost-1002.md"
    assert keep.write(duplicate_post()) and path.exists()
    assert skip.write(duplicate_post()) and not path.exists()
    assert not skip.write(duplicate_post())


def test_the_catalog_check_expects_no_file_for_a_skipped_duplicate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    story, _, _ = a_story(5)
    repo = Repository.open(url)
    with repo.transaction() as tx:
        tx.upsert_article(story_article("1001", story))
        tx.upsert_article(story_article("1002", story))
    repo.close()
    source = tmp_path / "source"
    for policy in ("keep", "mark", "skip"):
        options = RenderOptions(duplicates=policy)
        repair_catalog(url, source, options, {})
        files = sorted(p.name for p in (source / "_posts").glob("*.md"))
        report = check_catalog(url, source, None, options)
        assert report.rows_without_post == [] and report.posts_without_row == []
        expected = ["qupost-1001.md"] + ([] if policy == "skip" else ["qupost-1002.md"])
        assert files == expected, policy
        for name in files:
            (source / "_posts" / name).unlink()


def test_a_marked_post_file_reads_back_as_a_duplicate_not_as_deleted(tmp_path: Path) -> None:
    options = RenderOptions(duplicates="mark")
    post = duplicate_post(published_at=BASE)
    path = tmp_path / "_posts" / "qupost-1002.md"
    path.parent.mkdir()
    path.write_text(render_post(post, options), "utf-8")
    back = parse_post_file(path, {}, options, BASE)
    assert back.duplicate_of == "1001" and back.deleted_at is None
    assert render_post(back, options) == path.read_text("utf-8")
