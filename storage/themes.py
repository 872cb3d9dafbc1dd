"""Theme presets: the front-matter keys each popular Hexo theme reads.

Every post carries ``description`` (plain text) and ``excerpt`` (the same
summary as HTML), so any theme's index page shows the summary instead of
the whole article: some themes print ``description``, others
``post.excerpt``, which Hexo takes from the front matter when it is there.
What differs between themes is where they look for the cover image: the
article's banner and the index card's thumbnail.  A preset names those
keys; ``QUPOST_COVER_KEYS`` set explicitly wins over the preset.

A key written ``name[]`` receives a one-item list instead of a string (for
keys such as landscape's ``photos`` gallery, which a theme reads as a list).
The README's theme table is generated from :data:`PRESETS` by hand; a test
checks the two agree.
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


PRESETS: dict[str, ThemePreset] = {
    preset.name: preset
    for preset in (
        ThemePreset(
            "landscape",
            ("photos[]",),
            "hexo-theme-landscape",
            "Hexo's default theme; shows the cover as the post's gallery",
        ),
        ThemePreset("next", (), "hexo-theme-next", "NexT shows no cover image"),
        ThemePreset("fluid", ("index_img", "banner_img"), "hexo-theme-fluid"),
        ThemePreset("icarus", ("cover", "thumbnail"), "hexo-theme-icarus"),
        ThemePreset("butterfly", ("cover", "top_img"), "hexo-theme-butterfly"),
        ThemePreset("volantis", ("headimg", "thumbnail"), "hexo-theme-volantis"),
        ThemePreset("redefine", ("thumbnail", "cover"), "hexo-theme-redefine"),
        ThemePreset("keep", ("home_cover", "post_cover"), "hexo-theme-keep"),
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
