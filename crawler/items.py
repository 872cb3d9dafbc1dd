"""Items the spider yields besides articles: plain dataclasses.

An article travels as ``storage.article.Article``, the one record of it that
the pipelines fill in and the catalog stores.  Pipelines read items through
``ItemAdapter``; none holds a Response, a session or any other live object.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ListingItem:
    """The article ids one list page showed for one channel.

    Storage records these memberships so tags are the union of every channel
    an article was listed under, even when its page is not fetched again.
    """

    cid: int
    qupost_ids: list[str] = field(default_factory=list)
