"""Theme presets: the front-matter keys each popular Hexo theme reads.

Every post carries ``description`` (plain text) and ``excerpt`` (the same
summary as HTML), so any theme's index page shows the summary instead of
the whole article: some themes print ``description`` (NexT, Fluid), others
``post.excerpt`` (landscape, Icarus, Volantis, Redefine, Keep), which Hexo
keeps as it is when the front matter has one.  Butterfly prints the first
500 characters of the body unless its ``index_post_content.method`` is 1 or
2 (then ``description``); that is theme configuration, not front matter.
What differs between themes is where they look for the cover image: the
article's banner and the index card's thumbnail.  A preset names those
keys; ``QUPOST_COVER_KEYS`` set explicitly wins over the preset.

The keys were read from the templates of the theme versions pinned in
``tests/hexo/package.json``; ``tests/test_themes.py`` builds a site with
each real theme and checks the generated pages.

A key written ``name[]`` receives a one-item list instead of a string (for
``photos``, which landscape and NexT read as a list and show as a gallery
above the post).  The README's theme table is written from :data:`PRESETS`
by hand; a test checks the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThemePreset:
    name: str
    cover_keys: tuple[str, ...]
    """Keys that receive the cover image's URL (banner and card)."""
    package: str
    """The theme's npm package, as the README and the tests install it."""
    note: str = ""
    extra: tuple[tuple[str, bool | str], ...] = ()
    """Fixed front-matter keys the theme needs to show the post as it should."""


PRESETS: dict[str, ThemePreset] = {
    preset.name: preset
    for preset in (
        ThemePreset(
            "landscape",
            ("photos[]",),
            "hexo-theme-landscape",
            "Hexo's default theme: photos is a gallery above the post, on the index and the post",
        ),
        ThemePreset(
            "next",
            ("photos[]",),
            "hexo-theme-next",
            "photos is a gallery above the post, on the index and the post",
        ),
        ThemePreset(
            "fluid",
            ("index_img", "banner_img"),
            "hexo-theme-fluid",
            "index_img: the index card; banner_img: the post's banner",
        ),
        ThemePreset(
            "icarus",
            ("cover", "thumbnail"),
            "hexo-theme-icarus",
            "cover: the card image on the index and the post; thumbnail: recent-posts widget",
        ),
        ThemePreset(
            "butterfly",
            ("cover", "top_img"),
            "hexo-theme-butterfly",
            "cover: the index card; top_img: the post's banner",
        ),
        ThemePreset(
            "volantis",
            ("headimg", "thumbnail"),
            "hexo-theme-volantis",
            "headimg: the index card and the post's header; thumbnail: beside the post's meta; "
            "title_display: true, or Volantis hides the title of a post with a headimg",
            extra=(("title_display", True),),
        ),
        ThemePreset(
            "redefine",
            ("thumbnail", "cover"),
            "hexo-theme-redefine",
            "thumbnail: the index card; cover: the post's banner",
        ),
        ThemePreset(
            "keep",
            ("home_cover", "post_cover"),
            "hexo-theme-keep",
            "home_cover: the index card; post_cover: the post's banner",
        ),
    )
}
# The keys of the post format qupost keeps from the converter it replaces.
DEFAULT_THEME = "volantis"


def preset(name: str) -> ThemePreset:
    """The preset called ``name`` (case-insensitive); ValueError names the known ones."""
    found = PRESETS.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown theme {name!r}; known: {', '.join(PRESETS)}")
    return found
