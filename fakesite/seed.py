"""The article behind the seed post (tests/data/seed), for the golden test and the offline demo.

The text is the seed post's own; images are generated at the seed's sizes and
served at the seed's CDN paths.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fakesite.site import FakeArticle, FakeSite

SEED_ID = "1638625001"
SEED_TITLE = "“十四五”期间重庆将改造老旧小区住宅4.35万栋"
SEED_PUBLISHED = datetime.fromtimestamp(1638625752, tz=UTC)

SEED_BODY: list[tuple[str, ...]] = [
    ("p", "封面新闻见习记者 曹钰"),
    (
        "p",
        "近日，封面新闻从重庆市住房和城乡建设委员会获悉，“十四五”期间，重庆市将改造2000年底前建成的老旧小区约1亿平方米，涉及住宅约4.35万栋。",
    ),
    (
        "p",
        "其中，加装电梯成为居民最关注、改造意愿最集中的内容之一。针对目前加装电梯品牌规格、功能样式、安装价格、维保方式五花八门，导致采购成本偏高，后期维保管理压力增大的难题。",
    ),
    ("img", "/qupost/img/2021/12/04/0f9333318f5524d6b066f9980759a693.jpeg", "600,240"),
    ("html", "<strong>重庆老旧小区加装电梯</strong>"),
    (
        "p",
        "重庆市住房城乡建委与重庆市经信委、重庆市市场监管局等相关部门会商后，决定从进一步推进老旧小区加装电梯服务企业集中采购和供需对接，丰富“政策库”和“工具箱”。",
    ),
    (
        "p",
        "据介绍，重庆市住房城乡建委引入相关科研机构，为老旧小区加装电梯制定标准，明确加装电梯改造后引入专业物业进行管理。",
    ),
    ("p", "除加装电梯外，重庆还运用市场化方式，引来“活水”解决老旧小区改造难题，使改造资金更多元。"),
    ("img", "/qupost/img/2021/12/04/0ebc85dd9bc8ea97798614c25b6cd3af.jpeg", "1080,608"),
    ("html", "<strong>改造后的白马凼社区旧貌换新颜</strong>"),
    (
        "p",
        "例如，重庆九龙坡区采用PPP（政府和社会资本合作）模式激活区内六大老旧小区进行改造，其中白马凼示范区是率先启动改造的两个项目之一，于去年底正式启动。",
    ),
    (
        "p",
        "“我们负责项目全过程投融资、设计、建设、运营、后续维护等工作，建立‘居民受益、企业获利、政府减压’的多方共赢模式。涉及改造栋数366栋、改造户数14336户，惠及人数超过31000人，主要改造内容包括基础设施改造、完善工程建设和提升工程建设。”项目负责人尧雷说。",
    ),
    ("img", "/qupost/img/2021/12/04/7191b1edac0891df29e1579a365da55d.jpeg", "1080,713"),
    ("html", "<strong>改造后的白马凼社区</strong>"),
    (
        "p",
        "从“屋顶漏水、管道堵塞”到“长廊串联、绿植遍布”，白马凼社区如今焕然一新——路面平整、楼体外立面干净清新、公共活动场地宽敞整洁、配套设施丰富完善……这个有着30年楼龄的老旧小区一改往日面貌，变身美丽花园。",
    ),
    ("p", "据悉，重庆市自2018年启动老旧小区改造以来，已累计开工改造2600余个小区，惠及居民68万户。"),
    ("img", "/qupost/img/2021/12/04/89df523dc7bb0d377ee3dd297670460f.jpeg", "600,800"),
    ("html", "<strong>重庆老旧小区加装电梯</strong>"),
]


def add_seed_article(site: FakeSite, channels: list[int] | None = None) -> FakeArticle:
    """Add the seed article and its four images (600x240, 1080x608, 1080x713, 600x800)."""
    for n, part in enumerate(SEED_BODY):
        if part[0] == "img":
            width, height = (int(v) for v in part[2].split(","))
            site.add_image(part[1], width, height, seed=1000 + n)
    first_image = next(p[1] for p in SEED_BODY if p[0] == "img")
    return site.add_article(
        FakeArticle(
            id=SEED_ID,
            title=SEED_TITLE,
            published=SEED_PUBLISHED,
            source_name="封面新闻",
            channels=channels or [1],
            body=list(SEED_BODY),
            cover=first_image,
        )
    )
