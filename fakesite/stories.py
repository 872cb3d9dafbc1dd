"""Generated news stories, their re-posts, and a fake site that serves both.

Every story is different: its own place, organisation, people and numbers,
and sentences composed word by word from a topic's vocabulary, so two stories
of one topic share names and phrases the way two real reports do, not whole
sentences.  A source frames every story it publishes the same way (a byline,
an editor line, a stock footer), as the sources re-aggregated by Qutoutiao do.

A re-post is a story published again under another id after one kind of edit
(:data:`EDITS`): re-titled, a paragraph added, removed or reworded,
punctuation and whitespace changed, its images swapped, or the same text
under another source's byline and footer.

:func:`build_story_site` serves such stories and re-posts; ``build_site``
(lorem text, no re-posts) is what every other test sees.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from fakesite.site import BEIJING, FakeArticle, FakeSite


def _w(words: str) -> tuple[str, ...]:
    """A word list written as one space-separated string."""
    return tuple(words.split())


SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严覃"
    "武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉玲燕红梅琳建国志文斌宇浩凯婷雪琴"
    "云莉晨欣然思远博睿航瑶佳怡子轩梓涵诗雨嘉俊鑫"
)
CITIES = _w(
    "重庆 成都 武汉 杭州 南京 西安 长沙 郑州 济南 合肥 福州 昆明 贵阳 南宁 太原 沈阳 长春 兰州 "
    "西宁 银川 南昌 海口 厦门 青岛 宁波 苏州 无锡 佛山 东莞 绵阳 宜昌 洛阳 泉州 温州 徐州 襄阳"
)
DISTRICTS = _w(
    "高新区 经开区 城南片区 滨江新区 老城区 江北新区 东湖片区 河西片区 北部新区 临空经济区 "
    "南湖街道 西城街道 两江新区 天府新区 金沙镇 青山镇"
)
# Sentence openers; empty ones make most sentences open with their subject.
CONNECTORS = (
    "", "", "", "据了解，", "记者注意到，", "与此同时，", "此外，", "值得一提的是，", "目前，",
    "近年来，", "下一步，", "据统计，", "今年以来，", "另外，", "记者从现场看到，", "总体来看，",
    "从数据看，", "据悉，", "截至目前，", "业内人士指出，",
)  # fmt: skip
ADVERBS = _w(
    "已 正在 将 持续 加快 全面 逐步 进一步 积极 稳步 率先 集中 大力 有序 首次 继续 统筹 扎实"
)
GENERIC_TAILS = (
    "，预计{month}月底前完成", "，总投资约{money}亿元", "，同比增长{pct}%", "，覆盖{n}个街道",
    "，涉及群众{n}万余人", "，较去年同期提高{pct}个百分点", "，目前进展顺利", "，受到广泛好评",
    "，计划分{n}批推进", "，相关工作已进入收尾阶段", "，首批{n}个项目已经落地", "",
)  # fmt: skip
QUOTE_OPENERS = _w("表示 介绍 告诉记者 坦言 说 透露 提到 分析称")
ROLES = _w("负责人 工作人员 相关负责人 居民 市民 专家 项目经理 社区书记 教授")


@dataclass(frozen=True)
class Topic:
    name: str
    orgs: tuple[str, ...]
    """Organisation names; ``{city}`` is the story's city."""
    subjects: tuple[str, ...]
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    tails: tuple[str, ...]
    """Clauses that end a sentence; ``{n}``, ``{pct}`` and ``{money}`` are numbers."""
    quotes: tuple[str, ...]
    units: tuple[str, ...]


def _topic(name: str, orgs: str, subjects: str, verbs: str, objects: str, tails: str,
           quotes: str, units: str) -> Topic:  # fmt: skip
    """A topic, each list written as one space-separated string (tails start with "，")."""
    return Topic(
        name, _w(orgs), _w(subjects), _w(verbs), _w(objects),
        tuple("，" + tail for tail in _w(tails)), _w(quotes), _w(units),
    )  # fmt: skip


TOPICS: tuple[Topic, ...] = (
    _topic(
        "住房",
        "{city}市住房和城乡建设委员会 {city}市城市更新局 {city}市房地产协会",
        "老旧小区 棚户区 城中村 保障性住房 人才公寓 背街小巷 社区环境",
        "改造 推进 启动 完成 验收 提升 整治 规划 新建 翻新",
        "加装电梯 雨污分流管网 外墙保温层 小区停车位 社区食堂 无障碍通道 充电桩 二次供水设施 "
        "消防通道 口袋公园 楼道照明",
        "惠及居民{n}户 涉及住宅{n}栋 改造面积约{n}万平方米 居民满意度达{pct}%",
        "改造后住着舒心多了 我们会把好事办好 下一步重点是长效管理 居民意见是第一位的",
        "栋 户 个小区 万平方米",
    ),
    _topic(
        "汽车",
        "{city}市经济和信息化局 {city}新能源汽车产业联盟 {city}市汽车流通协会",
        "新能源汽车 动力电池 整车企业 充换电网络 智能网联汽车 汽车消费",
        "投产 下线 发布 交付 扩产 补贴 布局 测试 升级 出口",
        "纯电动车型 换电站 自动驾驶测试道路 电池回收体系 零部件产业园 以旧换新活动 超级充电站 "
        "整车生产线 车载芯片 氢燃料电池客车",
        "年产能达{n}万辆 销量突破{n}万辆 续航里程超过{n}公里 带动就业{n}人",
        "市场需求非常旺盛 技术迭代速度很快 消费者越来越认可 供应链正在完善",
        "辆 台 座 公里",
    ),
    _topic(
        "天气",
        "{city}市气象台 {city}市应急管理局 {city}市防汛抗旱指挥部",
        "寒潮 强降雨 大风降温 持续高温 冰冻天气 雷暴大风 大雾",
        "来袭 影响 发布 预警 防范 巡查 启动 转移 抢修 监测",
        "橙色预警 应急响应 低温雨雪天气 山洪地质灾害 城市内涝点 道路结冰路段 防寒物资 电力线路 "
        "农业生产设施 景区游览项目",
        "最低气温降至零下{n}摄氏度 累计降雨量达{n}毫米 阵风可达{n}级 转移群众{n}人",
        "出门一定要注意保暖 我们已经做好了准备 请大家减少不必要的外出 雨势还会持续",
        "毫米 摄氏度 级 处",
    ),
    _topic(
        "教育",
        "{city}市教育局 {city}市教育考试院 {city}市第一中学",
        "义务教育 高考招生 课后服务 职业教育 学前教育 校园安全 双减工作",
        "开展 实施 公布 新建 扩招 优化 部署 试点 改革 落实",
        "学位供给 志愿填报指导 午休课桌椅 实训基地 普惠性幼儿园 体育课时 食堂明厨亮灶工程 "
        "教师轮岗交流 校车线路 心理健康课程",
        "新增学位{n}个 惠及学生{n}万名 覆盖学校{n}所 参与教师{n}人",
        "孩子们的变化很明显 家长的反馈很积极 教育公平是根本 学校会持续改进",
        "所 名 个 人",
    ),
    _topic(
        "文旅",
        "{city}市文化和旅游局 {city}市文旅集团 {city}博物馆",
        "文旅消费 夜间经济 乡村旅游 非遗展演 红色旅游 古镇景区 冰雪旅游",
        "推出 接待 举办 开放 升级 打造 上线 策划 复苏 带动",
        "灯光秀 文创市集 精品民宿 研学线路 沉浸式演出 免费开放日 旅游专列 美食街区 露营基地 "
        "非遗工坊",
        "接待游客{n}万人次 旅游收入{money}亿元 门票收入增长{pct}% 客房入住率达{pct}%",
        "来了就不想走 节假日人特别多 文化是最好的名片 我们还会推出新玩法",
        "人次 家 条 场",
    ),
    _topic(
        "科技",
        "{city}市科学技术局 {city}高新技术产业开发区管委会 {city}市人工智能产业协会",
        "人工智能 集成电路 数字经济 工业互联网 算力中心 科技成果转化 专精特新企业",
        "研发 攻关 发布 落地 孵化 引进 突破 建成 签约 量产",
        "大模型平台 芯片封装测试线 数据交易所 创新联合体 中试基地 算力调度平台 工业机器人 "
        "卫星遥感应用 量子通信网络 智慧工厂",
        "研发投入{money}亿元 申请专利{n}项 产值突破{n}亿元 引进人才{n}名",
        "核心技术要掌握在自己手里 产学研合作很关键 市场前景非常广阔 我们还在加大投入",
        "项 家 个 名",
    ),
    _topic(
        "农业",
        "{city}市农业农村局 {city}市供销合作社 {city}市农业科学院",
        "秋粮收购 高标准农田 春耕备耕 特色种植 农产品电商 乡村振兴 种业振兴",
        "丰收 推广 收购 建设 培育 示范 销售 种植 引进 提质",
        "优质稻 高山蔬菜 柑橘新品种 智能灌溉系统 冷链物流中心 农机合作社 直播带货基地 稻渔综合种养 "
        "有机茶园 良种繁育基地",
        "亩产达{n}公斤 带动农户{n}户增收 种植面积{n}万亩 销售额{money}亿元",
        "今年收成比去年好 种地也要讲科学 销路不用愁了 农民腰包鼓起来了",
        "亩 公斤 户 吨",
    ),
    _topic(
        "医疗",
        "{city}市卫生健康委员会 {city}市医疗保障局 {city}市人民医院",
        "分级诊疗 医保支付 家庭医生签约 互联网医院 基层医疗 老年健康服务 急救体系",
        "推行 开通 扩大 上线 优化 建成 覆盖 纳入 启用 减免",
        "门诊共济保障 远程会诊中心 日间手术病房 慢病长处方 胸痛中心 社区卫生服务站 "
        "异地就医直接结算 集采药品 健康体检项目 急救站点",
        "服务患者{n}万人次 报销比例提高到{pct}% 节省费用{money}亿元 签约居民{n}万人",
        "看病比以前方便多了 我们把服务送到家门口 基层能力还要再提升 患者负担明显减轻",
        "家 人次 个 项",
    ),
)


# The frame a source puts around each story; ``{reporter}`` and ``{editor}`` vary by story.
@dataclass(frozen=True)
class Source:
    name: str
    bylines: tuple[str, ...]
    footers: tuple[tuple[str, ...], ...]
    """Footer lines a story may end with; the source picks one set per story."""
    dateline: str = ""
    """A dateline put before the first paragraph's text, as news agencies do."""


SOURCES: tuple[Source, ...] = (
    Source(
        "封面新闻",
        (
            "封面新闻见习记者 {reporter}",
            "封面新闻记者 {reporter}",
            "封面新闻记者 {reporter} {reporter2}",
        ),
        (("责任编辑：{editor}",), ("封面新闻，有温度的新闻。", "责任编辑：{editor}")),
    ),
    Source(
        "红星新闻",
        ("红星新闻记者 {reporter} 实习生 {reporter2}", "红星新闻记者 {reporter}"),
        (("编辑 {editor} 责编 {editor2}", "（下载红星新闻，报料有奖！）"),),
    ),
    Source(
        "新华社",
        ("",),
        (("（完）",), ("【纠错】 【责任编辑：{editor}】",)),
        dateline="新华社{city}{month}月{day}日电（记者{reporter}）",
    ),
    Source(
        "中国新闻网",
        ("",),
        (("(完)", "【编辑:{editor}】"),),
        dateline="中新网{city}{month}月{day}日电 (记者 {reporter})",
    ),
    Source(
        "澎湃新闻",
        ("澎湃新闻记者 {reporter}",),
        (
            ("责任编辑：{editor}", "校对：{editor2}"),
            ("澎湃新闻报料：021-962866", "责任编辑：{editor}"),
        ),
    ),
    Source(
        "极目新闻",
        ("极目新闻记者 {reporter}", "极目新闻记者 {reporter} 通讯员 {reporter2}"),
        (("更多精彩内容，请关注极目新闻。爆料请拨打新闻热线027-86777777",),),
    ),
    # Sources whose frame no general rule knows: a blurb, a greeting, a slogan.
    Source(
        "城市日报",
        ("文/{reporter} 图/{reporter2}",),
        (
            (
                "城市日报是面向城市居民的综合性日报，每天为读者提供本地新闻、民生服务和生活资讯。",
                "审核：{editor}",
            ),
        ),
    ),
    Source(
        "看点快报",
        ("",),
        (
            (
                "看点快报每天为你精选城市热点与实用生活资讯，让你第一时间了解身边发生的大事小事。",
                "看点快报，陪你看懂这座城。",
                "欢迎在评论区留言，说说你对这件事的看法。",
            ),
        ),
    ),
    Source(
        "百姓生活汇",
        ("大家好，欢迎来到百姓生活汇，今天和大家聊聊身边的新鲜事。",),
        (
            (
                "声明：本文由入驻趣头条的作者撰写，观点仅代表作者本人，不代表趣头条立场。",
                "喜欢的朋友点个关注，每天为您分享更多精彩内容！",
            ),
            ("以上就是今天的全部内容，我们下期再见。", "关注我，每天带你看懂身边事。"),
        ),
    ),
)


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


@dataclass
class Story:
    """One story as one source published it: title, frame and paragraphs, images between."""

    title: str
    source: str
    paragraphs: list[str]
    byline: str = ""
    footer: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    """Image ids, one after each of the first paragraphs."""
    dateline: str = ""
    """Written before the first paragraph's text, as news agencies do."""

    def text(self) -> list[str]:
        """The paragraphs as published: the dateline opens the first."""
        if not self.paragraphs:
            return []
        return [self.dateline + self.paragraphs[0], *self.paragraphs[1:]]

    def body(self, image_path: Callable[[str], str] | None = None) -> list[tuple[str, ...]]:
        """The body as fake-site parts: ``("p", text)`` and ``("img", path, "W,H")``."""
        parts: list[tuple[str, ...]] = [("p", self.byline)] if self.byline else []
        for n, paragraph in enumerate(self.text()):
            parts.append(("p", paragraph))
            if n < len(self.images) and image_path is not None:
                parts.append(("img", image_path(self.images[n]), "640,360"))
        parts.extend(("p", line) for line in self.footer)
        return parts

    def html(self) -> str:
        """The body as the page's HTML, images at their CDN URLs."""
        out: list[str] = []
        for part in self.body(lambda i: f"http://img.example.net/qupost/{i}.jpeg"):
            if part[0] == "p":
                out.append(f"<p>{part[1]}</p>")
            else:
                out.append(f'<p><img data-src="{part[1]}" data-size="{part[2]}"></p>')
        return "".join(out)


class StoryWriter:
    """Writes stories of one topic, told by one source, about one event."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def event(self, topic: Topic) -> dict[str, str]:
        """The particulars of one event: where, who, what."""
        rng = self.rng
        city = rng.choice(CITIES)
        return {
            "city": city,
            "district": rng.choice(DISTRICTS),
            "org": rng.choice(topic.orgs).format(city=city),
            "subject": rng.choice(topic.subjects),
            "object": rng.choice(topic.objects),
            "person": person(rng),
            "role": rng.choice(ROLES),
            "month": str(rng.randint(1, 12)),
            "day": str(rng.randint(1, 28)),
        }

    def sentence(self, topic: Topic, event: dict[str, str]) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.18:
            quote = rng.choice(topic.quotes)
            more = self.clause(topic, event, connector=False)
            who = event["person"] if rng.random() < 0.6 else person(rng)
            return f"“{quote}，{more}。”{event['role']}{who}{rng.choice(QUOTE_OPENERS)}。"
        if kind < 0.3:
            who = rng.choice([event["org"], f"{event['role']}{event['person']}", "记者"])
            return (
                f"{who}{rng.choice(QUOTE_OPENERS)}，{self.clause(topic, event, connector=False)}。"
            )
        return self.clause(topic, event) + "。"

    def clause(self, topic: Topic, event: dict[str, str], *, connector: bool = True) -> str:
        rng = self.rng
        place = rng.choice(
            [event["city"], event["district"], event["city"] + event["district"], event["org"], ""]
        )
        subject = event["subject"] if rng.random() < 0.4 else rng.choice(topic.subjects)
        thing = event["object"] if rng.random() < 0.3 else rng.choice(topic.objects)
        count = f"{rng.randint(2, 980)}{rng.choice(topic.units)}" if rng.random() < 0.35 else ""
        tail = rng.choice(topic.tails if rng.random() < 0.5 else GENERIC_TAILS)
        tail = tail.format(
            n=rng.randint(3, 9800),
            pct=rng.randint(3, 97),
            money=f"{rng.randint(1, 480) / 10:g}",
            month=rng.randint(1, 12),
        )
        opener = rng.choice(CONNECTORS) if connector else ""
        verb = rng.choice(topic.verbs)
        return f"{opener}{place}{subject}{rng.choice(ADVERBS)}{verb}{count}{thing}{tail}"

    def paragraph(self, topic: Topic, event: dict[str, str], sentences: int | None = None) -> str:
        count = sentences or self.rng.randint(1, 4)
        return "".join(self.sentence(topic, event) for _ in range(count))

    def title(self, topic: Topic, event: dict[str, str]) -> str:
        rng = self.rng
        return rng.choice(
            [
                f"{event['city']}{event['subject']}{rng.choice(topic.verbs)}{event['object']}",
                f"{event['org']}：{event['subject']}{rng.choice(ADVERBS)}{rng.choice(topic.verbs)}",
                f"{event['city']}{event['district']}{event['object']}{rng.choice(topic.verbs)}了",
            ]
        )

    def frame(self, source: Source, event: dict[str, str]) -> tuple[str, list[str], str]:
        """The source's byline, footer and dateline for one story."""
        rng = self.rng
        names = {
            "reporter": person(rng),
            "reporter2": person(rng),
            "editor": person(rng),
            "editor2": person(rng),
            "city": event["city"],
            "month": event["month"],
            "day": event["day"],
        }
        byline = rng.choice(source.bylines).format(**names)
        footer = [line.format(**names) for line in rng.choice(source.footers)]
        return byline, footer, source.dateline.format(**names)

    def story(
        self,
        topic: Topic,
        source: Source,
        *,
        event: dict[str, str] | None = None,
        paragraphs: int | None = None,
        images: int = 2,
        frame: tuple[str, list[str], str] | None = None,
    ) -> Story:
        rng = self.rng
        event = event or self.event(topic)
        count = paragraphs or rng.randint(3, 10)
        body = [self.paragraph(topic, event) for _ in range(count)]
        byline, footer, dateline = frame or self.frame(source, event)
        return Story(
            title=self.title(topic, event),
            source=source.name,
            paragraphs=body,
            byline=byline,
            footer=footer,
            images=[f"{rng.getrandbits(64):016x}" for _ in range(images)],
            dateline=dateline,
        )


# --- edits: what a re-post does to a story -------------------------------------------

_PUNCTUATION_SWAPS = {"，": ",", "。": ". ", "“": '"', "”": '"', "：": ":", "（": "(", "）": ")"}
# Words and their synonyms, as "word=synonym" pairs.
_REWORDINGS = dict(
    pair.split("=")
    for pair in _w(
        "表示=称 目前=当前 近日=日前 进一步=更加 据了解=据悉 已=已经 持续=不断 加快=加速 "
        "全面=全方位 积极=主动 完成=完工 启动=开启 推进=推动 提升=提高 此外=另外 同时=与此同时 "
        "约=大约 超过=逾 记者注意到=记者发现 告诉记者=对记者说 预计=估计 居民=住户 市民=群众"
    )
)


def retitle(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    prefix = rng.choice(["重磅！", "刚刚，", "最新消息：", "关注｜", "速看！", ""])
    words = story.title
    cut = rng.randint(2, max(2, len(words) - 2))
    new_title = f"{prefix}{words[cut:]}，{words[:cut]}{rng.choice(['来了', '官宣', '有新进展'])}"
    return replace(story, title=new_title)


def add_paragraph(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    paragraphs = list(story.paragraphs)
    event = writer.event(topic)
    # Editors add to the middle or the end; the lead stays first.
    at = rng.choice([len(paragraphs), rng.randint(1, len(paragraphs))])
    paragraphs.insert(at, writer.paragraph(topic, event, sentences=rng.randint(1, 3)))
    return replace(story, paragraphs=paragraphs)


def remove_paragraph(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    paragraphs = list(story.paragraphs)
    if len(paragraphs) > 1:
        del paragraphs[rng.randrange(1, len(paragraphs))]
    return replace(story, paragraphs=paragraphs)


def reword_paragraph(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    """One paragraph said differently: words swapped for synonyms, one sentence rewritten."""
    paragraphs = list(story.paragraphs)
    n = rng.randrange(len(paragraphs))
    text = paragraphs[n]
    for old, new in rng.sample(sorted(_REWORDINGS.items()), k=8):
        text = text.replace(old, new)
    sentences = [s for s in text.split("。") if s]
    if len(sentences) > 1:
        sentences[rng.randrange(len(sentences))] = writer.clause(topic, writer.event(topic))
    paragraphs[n] = "。".join(sentences) + "。"
    return replace(story, paragraphs=paragraphs)


def punctuate(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    """Half-width punctuation, spaces and line breaks where the story had none."""

    def redo(text: str) -> str:
        out = []
        for char in text:
            if char in _PUNCTUATION_SWAPS and rng.random() < 0.7:
                out.append(_PUNCTUATION_SWAPS[char])
            elif char == "，" and rng.random() < 0.5:
                out.append("")
            else:
                out.append(char)
            if rng.random() < 0.03:
                out.append(" ")
        return "".join(out)

    return replace(story, paragraphs=[redo(p) for p in story.paragraphs])


def swap_images(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    count = max(1, len(story.images) + rng.choice([-1, 0, 1]))
    return replace(story, images=[f"{rng.getrandbits(64):016x}" for _ in range(count)])


def rebyline(rng: random.Random, story: Story, writer: StoryWriter, topic: Topic) -> Story:
    """The same text re-published by another source, in that source's frame."""
    other = rng.choice([s for s in SOURCES if s.name != story.source])
    byline, footer, dateline = writer.frame(other, writer.event(topic))
    return replace(story, source=other.name, byline=byline, footer=footer, dateline=dateline)


Edit = Callable[[random.Random, Story, StoryWriter, Topic], Story]
EDITS: dict[str, Edit] = {
    "retitled": retitle,
    "paragraph added": add_paragraph,
    "paragraph removed": remove_paragraph,
    "paragraph reworded": reword_paragraph,
    "punctuation and whitespace": punctuate,
    "images swapped": swap_images,
    "another byline": rebyline,
}


def repost(rng: random.Random, story: Story, kind: str, writer: StoryWriter, topic: Topic) -> Story:
    """``story`` after the edit ``kind`` (a key of :data:`EDITS`, or "re-aggregated": several)."""
    if kind != "re-aggregated":
        return EDITS[kind](rng, story, writer, topic)
    # Re-aggregated onto another platform: new frame and title, and one edit of the text.
    edited = rebyline(rng, retitle(rng, story, writer, topic), writer, topic)
    text_edit = rng.choice(["paragraph added", "paragraph removed", "paragraph reworded"])
    return EDITS[text_edit](rng, edited, writer, topic)


# --- a fake site of stories and re-posts ---------------------------------------------


def build_story_site(
    stories: int = 20,
    reposts: int = 10,
    *,
    channels: tuple[int, ...] = (1,),
    seed: int = 11,
    start: datetime | None = None,
    first_id: int = 1639000000,
) -> FakeSite:
    """A site of ``stories`` different stories, then ``reposts`` re-posts of some of them.

    Each re-post has an id of its own, is published a little after its story
    and is listed in the same channel; ``site.duplicate_of`` maps its id to
    the story's.  Both carry images of their own.
    """
    rng = random.Random(seed)
    writer = StoryWriter(rng)
    site = FakeSite()
    start = start or datetime(2021, 12, 4, 13, 0, tzinfo=UTC)
    originals: list[tuple[FakeArticle, Story, Topic]] = []
    for n in range(stories):
        topic = TOPICS[n % len(TOPICS)]
        story = writer.story(topic, rng.choice(SOURCES))
        published = start - timedelta(minutes=11 * n)
        article = _story_article(
            site, str(first_id + n), story, published, channels[n % len(channels)]
        )
        originals.append((article, story, topic))
    kinds = [*EDITS, "re-aggregated"]
    for k in range(reposts):
        article, story, topic = originals[k % len(originals)]
        edited = repost(rng, story, kinds[k % len(kinds)], writer, topic)
        published = article.published + timedelta(minutes=rng.randint(1, 9))
        copy_id = str(first_id + stories + k)
        _story_article(site, copy_id, edited, published, article.channels[0])
        site.duplicate_of[copy_id] = article.id
    return site


def _story_article(
    site: FakeSite, article_id: str, story: Story, published: datetime, cid: int
) -> FakeArticle:
    day = published.astimezone(BEIJING).strftime("%Y/%m/%d")

    def image_path(image_id: str) -> str:
        path = f"/qupost/img/{day}/{hashlib.md5(image_id.encode()).hexdigest()}.jpeg"
        if path not in site.images:
            site.add_image(path, 640, 360, seed=int(image_id[:6], 16))
        return path

    body = story.body(image_path)
    first_image = next((part[1] for part in body if part[0] == "img"), None)
    return site.add_article(
        FakeArticle(
            id=article_id,
            title=story.title,
            published=published,
            source_name=story.source,
            channels=[cid],
            body=body,
            cover=first_image,
        )
    )
