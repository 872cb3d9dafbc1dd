"""Qutoutiao channel ids and names, and parsing of the ``cid`` spider argument."""

from __future__ import annotations

CHANNELS: dict[int, str] = {
    255: "推荐",
    1: "热点",
    6: "娱乐",
    42: "健康",
    5: "养生",
    4: "励志",
    7: "科技",
    8: "生活",
    10: "财经",
    9: "汽车",
    18: "星座",
    12: "美食",
    14: "时尚",
    19: "游戏",
    17: "育儿",
    15: "军事",
    13: "体育",
    28: "国际",
    23: "历史",
    30: "收藏",
    50: "房产",
    51: "家居",
}

_BY_NAME = {name: cid for cid, name in CHANNELS.items()}


def channel_name(cid: int) -> str:
    """The display name of a channel, or its id as text when unknown."""
    return CHANNELS.get(cid, str(cid))


def parse_channels(value: str) -> list[int]:
    """Read ``1,6,科技`` into channel ids, in order, without repeats.

    Raises ValueError with a one-line message naming the bad entry.
    """
    result: list[int] = []
    for raw in value.replace("，", ",").split(","):
        token = raw.strip()
        if not token:
            continue
        cid = _BY_NAME.get(token)
        if cid is None:
            if not token.isdigit():
                known = ", ".join(f"{c}={n}" for c, n in sorted(CHANNELS.items()))
                raise ValueError(f"unknown channel {token!r}; known channels: {known}")
            cid = int(token)
        if cid not in result:
            result.append(cid)
    if not result:
        raise ValueError("cid is empty; give channel ids or names, e.g. cid=1,6,科技")
    return result
