"""Fingerprints of article text that survive small edits: what makes two posts one story.

An article's text is its cleaned body's text, line by line (a line is a
paragraph, a heading, a list item or a caption).  Lines that frame a story
rather than tell it are left out: credits (bylines such as "封面新闻见习记者
曹钰", "责任编辑：…" lines), news-agency datelines and stock footers
(disclaimers, "点个关注", hotlines), recognised by :func:`is_boilerplate`.
Footers no pattern knows are learned from the catalog instead (see
``storage.duplicates``).  Each remaining line is folded (full-width forms to
ASCII, lower case, letters and digits only, so punctuation, width and
whitespace edits vanish) and cut into overlapping :data:`SHINGLE`-character
shingles, hashed with xxHash (XXH3).  No word segmenter is needed for Chinese.

Two texts are the same story when the Jaccard similarity of their shingle
sets is at least ``storage.duplicates.SIMILARITY``.  To find such texts
without comparing against every stored one, each text also gets a MinHash
signature (one-permutation hashing into :data:`BINS` bins, densified, 16
bits a bin): the share of bins two signatures agree on estimates their
Jaccard similarity.  The signature is cut into :data:`BANDS` bands of
:data:`BAND_ROWS` bins; two texts of similarity ``s`` share at least one band
with probability ``1 - (1 - s**3)**32`` (0.986 at 0.5, 0.9999 at 0.7, 0.03 at
0.1), so the catalog indexes band keys and a lookup reads only the posts that
share one.

Hashing happens once per article, in ``pipelines.fingerprint``, outside any
catalog transaction: :func:`sketch` keeps each line's digest and shingle
hashes, from which the repository makes the signature once it knows which
lines the source uses as boilerplate.
"""

from __future__ import annotations

import operator
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import lxml.html
import xxhash
from lxml import etree

SHINGLE = 5
"""Characters per shingle: long enough that two unrelated texts rarely share one."""
BINS = 96
BAND_ROWS = 3
BANDS = BINS // BAND_ROWS
MIN_SHINGLES = 20
"""Texts with fewer shingles (about 24 characters) get no fingerprint: too short to tell."""
_EMPTY = 1 << 64
_VALUE_MASK = 0xFFFF
_UNPACK_BINS = struct.Struct(f">{BINS}H").unpack
# Full-width letters and digits (Ｆ, １): folded to ASCII, as NFKC would, at a fraction of
# its cost on CJK text. Full-width punctuation is dropped by the fold anyway, and the
# boilerplate patterns accept both widths.
_WIDE_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")

_BLOCKS = frozenset(
    ("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption", "caption",
     "td", "th", "tr", "table", "ul", "ol", "figure", "br")
)  # fmt: skip
# Credits are names, not sentences: a line with sentence or clause punctuation is text.
_CLAUSE_MARK = re.compile(r"[。！？!?，,；;]")
# A credit: who wrote, shot, edited, checked or supplied the piece.
_CREDIT_WORDS = re.compile(
    r"记者|通讯员|实习生|摄影|摄像|编辑|责编|校对|审核|审校|初审|复审|终审|监制|主编|编审|"
    r"撰文|撰稿|作者|出品|策划|统筹|制图|来源|出处|报料|爆料|(?:^|\s)[文图]\s*[/|｜:：]"
)
# What stock footers say: rights, disclaimers, calls to follow or download, hotlines.
_FOOTER_WORDS = re.compile(
    r"^(?:声明|免责声明|版权声明|特别声明|郑重声明|温馨提示|版权所有|原标题|本文来源|文章来源|"
    r"本文转自|转载自|图片来源|图源|注\s*[:：])|"
    r"未经授权|未经许可|不得转载|禁止转载|转载请|侵权|侵删|联系删除|不代表.{0,12}(?:立场|观点)|"
    r"仅代表作者|点个关注|点击关注|欢迎关注|关注我|关注我们|点赞|在看|分享给|"
    r"下载.{0,12}(?:客户端|app)|扫码|扫描二维码|二维码|新闻热线|报料|爆料|投稿"
)
_END_MARK = re.compile(r"^[(（【\[]?\s*(?:完|end|终|全文完)\s*[)）】\]]?$")
# A news agency's dateline, e.g. "新华社北京12月4日电（记者王五）": dropped, the text after kept.
_DATELINE = re.compile(
    r"^[^，。,]{0,24}?\d{1,2}月\d{1,2}日\s*(?:电|讯)\s*(?:[(（][^)）]{0,30}[)）])?"
)
_REPORTER_TAG = re.compile(r"^(?:本报讯|本台讯)\s*(?:[(（][^)）]{0,30}[)）])?")


@dataclass(frozen=True, slots=True)
class Line:
    """One text line of an article: its digest and its shingles' hashes."""

    digest: int
    """64-bit hash of the folded line: the same line in two posts has the same digest."""
    shingles: frozenset[int]


@dataclass(frozen=True, slots=True)
class Sketch:
    """What the fingerprint is made from: the story's text lines, boilerplate left out."""

    lines: tuple[Line, ...]

    def shingles(self, skip: frozenset[int] = frozenset()) -> set[int]:
        """Every shingle of the lines whose digest is not in ``skip``."""
        out: set[int] = set()
        for line in self.lines:
            if line.digest not in skip:
                out |= line.shingles
        return out


EMPTY_SKETCH = Sketch(())


def text_lines(body_html: str) -> list[str]:
    """The text lines of a cleaned body: one per paragraph, heading, item, cell or break."""
    if not body_html.strip():
        return []
    try:
        root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
            if element.tag != "br":
                element.text = "\n" + (element.text or "")
    return [line.strip() for line in root.text_content().split("\n") if line.strip()]


def _ascii(match: re.Match[str]) -> str:
    return chr(ord(match.group()) - 0xFEE0)


def narrow(line: str) -> str:
    """A line with full-width letters and digits as ASCII, lower case, ends trimmed."""
    if _WIDE_ALNUM.search(line):
        line = _WIDE_ALNUM.sub(_ascii, line)
    return line.strip().lower()


def fold(line: str) -> str:
    """A line as compared: full-width letters and digits as ASCII, lower case, letters and
    digits only."""
    return "".join(filter(str.isalnum, narrow(line)))


def is_boilerplate(line: str) -> bool:
    """Whether a line frames a story instead of telling it: a credit, an end mark, a footer.

    Credits are short and are not sentences ("封面新闻见习记者 曹钰",
    "责任编辑：王五", "文/张三 图/李四"); footers are disclaimers, rights
    notices, calls to follow or download and hotlines.  A story's own short
    line that happens to match (a caption naming a photographer) is lost to
    the comparison on both sides alike, which costs little.
    """
    text = narrow(line)
    if not text or _END_MARK.match(text):
        return True
    if len(text) <= 40 and not _CLAUSE_MARK.search(text) and _CREDIT_WORDS.search(text):
        return True
    return len(text) <= 100 and _FOOTER_WORDS.search(text) is not None


def strip_dateline(line: str) -> str:
    """A first line without its agency dateline ("新华社北京12月4日电（记者王五）")."""
    text = narrow(line)
    cut = _DATELINE.match(text) or _REPORTER_TAG.match(text)
    return text[cut.end() :] if cut else text


_hash64 = xxhash.xxh3_64_intdigest


def shingles(folded: str) -> frozenset[int]:
    """The hashes of a folded line's character shingles (the line itself when shorter)."""
    # Four bytes a character: a shingle is a slice of bytes, hashed without a new str.
    data = folded.encode("utf-32-le")
    width = 4 * SHINGLE
    if len(data) <= width:
        return frozenset((_hash64(data),)) if data else frozenset()
    return frozenset(
        map(_hash64, [data[i : i + width] for i in range(0, len(data) - width + 4, 4)])
    )


def sketch(body_html: str) -> Sketch:
    """The story lines of a cleaned body, each with its digest and shingle hashes."""
    lines: list[Line] = []
    seen: set[int] = set()
    for n, raw in enumerate(text_lines(body_html)):
        if is_boilerplate(raw):
            continue
        folded = fold(strip_dateline(raw) if not lines and n < 3 else raw)
        if not folded:
            continue
        digest = _hash64(folded.encode("utf-32-le"))
        if digest in seen:
            continue
        seen.add(digest)
        lines.append(Line(digest, shingles(folded)))
    return Sketch(tuple(lines))


def signature(shingle_set: Iterable[int]) -> tuple[int, ...] | None:
    """The MinHash signature of a shingle set: :data:`BINS` 16-bit values, or None if too small.

    One-permutation hashing: a shingle's hash picks its bin and its value;
    each bin keeps its smallest value.  Empty bins borrow from the next
    non-empty bin (densification), so similar small texts still agree.
    """
    bins = [_EMPTY] * BINS
    count = 0
    for value in shingle_set:
        count += 1
        rest, slot = divmod(value, BINS)
        if rest < bins[slot]:
            bins[slot] = rest
    if count < MIN_SHINGLES:
        return None
    filled = [i for i, v in enumerate(bins) if v != _EMPTY]
    if len(filled) < BINS:
        out = list(bins)
        for i in range(BINS):
            if out[i] == _EMPTY:
                distance = 1
                while bins[(i + distance) % BINS] == _EMPTY:
                    distance += 1
                donor = bins[(i + distance) % BINS]
                out[i] = _hash64(struct.pack("<QI", donor, distance))
        bins = out
    return tuple(_hash64(struct.pack("<QB", v, i)) & _VALUE_MASK for i, v in enumerate(bins))


def band_keys(sig: Sequence[int]) -> list[int]:
    """The index keys of a signature: one signed 64-bit key per band (band number included)."""
    keys = []
    for band in range(BANDS):
        rows = sig[band * BAND_ROWS : (band + 1) * BAND_ROWS]
        key = _hash64(struct.pack(f"<B{BAND_ROWS}H", band, *rows))
        keys.append(key - (1 << 64) if key >= 1 << 63 else key)
    return keys


def estimate(a: Sequence[int], b: Sequence[int]) -> float:
    """The Jaccard similarity two signatures estimate: the share of bins they agree on."""
    if len(a) != len(b):
        raise ValueError("signatures of different lengths")
    agreeing: int = sum(map(operator.eq, a, b))
    return agreeing / BINS


def jaccard(a: set[int], b: set[int]) -> float:
    """The Jaccard similarity of two shingle sets (0 when both are empty)."""
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def encode(sig: Sequence[int] | None) -> str:
    """A signature as stored in ``posts.fingerprint``: 4 hex digits a bin; "" for none."""
    return "" if sig is None else "".join(f"{v:04x}" for v in sig)


def decode(text: str | None) -> tuple[int, ...] | None:
    """The signature stored as ``text``, or None when there is none or it is malformed."""
    if not text or len(text) != BINS * 4:
        return None
    try:
        return _UNPACK_BINS(bytes.fromhex(text))
    except ValueError:
        return None
