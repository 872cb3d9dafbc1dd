"""Split a cProfile of ``scrapy crawl qupost`` into the pipeline's stages.

Each function's own time goes to the stage of the module it lives in.  Time
spent in library code (lxml, nh3, Pillow, SQLAlchemy, PyYAML, builtins...) is
handed up the call graph to its callers, split by how much of it each caller
caused (gprof's rule), until it reaches qupost code.  Whatever reaches the
top without meeting qupost code is Scrapy/Twisted overhead (or imports).
"""

from __future__ import annotations

import pstats
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

OVERHEAD = "scrapy/twisted overhead"
IMPORTS = "imports (startup)"
OTHER = "other qupost code"
SETUP = "catalog setup (alembic)"
# Module (relative to the project root) -> stage; a folder prefix ends with "/".  The
# first match wins.  None hands the time up to the callers: qupost's ``crawl`` command
# is at the root of every stack and must not swallow the whole reactor loop.
STAGE_OF_MODULE: tuple[tuple[str, str | None], ...] = (
    ("crawler/commands/", None),
    ("crawler/pages.py", "parsing"),
    ("crawler/spiders/", "parsing"),
    ("crawler/urls.py", "parsing"),
    ("crawler/items.py", "parsing"),
    ("crawler/channels.py", "parsing"),
    ("pipelines/clean.py", "cleaning"),
    ("pipelines/dates.py", "dates"),
    ("pipelines/images.py", "images"),
    ("storage/hexo.py", "markdown writing"),
    ("storage/migrations.py", SETUP),
    ("storage/alembic/", SETUP),
    ("pipelines/store.py", "storage"),
    ("storage/", "storage"),
    ("crawler/", OTHER),
)
STAGES: tuple[str, ...] = (
    "parsing",
    "cleaning",
    "dates",
    "images",
    "storage",
    "markdown writing",
    SETUP,
    OTHER,
    OVERHEAD,
    IMPORTS,
)

Func = tuple[str, int, str]


def stage_of(func: Func) -> str | None:
    """The stage that owns a function by its file, or None for library code."""
    filename = func[0].replace("\\", "/")
    if filename.startswith("<frozen importlib"):
        return IMPORTS
    root = str(ROOT).replace("\\", "/") + "/"
    if not filename.startswith(root):
        return None
    relative = filename[len(root) :]
    for module, stage in STAGE_OF_MODULE:
        if relative == module or (module.endswith("/") and relative.startswith(module)):
            return stage
    return None


@dataclass
class StageReport:
    total: float
    seconds: dict[str, float]
    hotspots: list[dict[str, Any]]


class Attribution:
    """Stage shares of each function's time, handed up the call graph.

    ``inside[f]`` holds the shares of the time spent inside ``f``: its owner's,
    or its callers' shares weighted by the cumulative time each caused.  The
    call graph has cycles (Deferred callbacks, recursion), so the shares are
    found by repeated passes until they settle; whatever a pure cycle never
    hands on counts as overhead.
    """

    def __init__(self, raw: dict[Func, Any], passes: int = 300) -> None:
        self.raw = raw
        self.index = {stage: i for i, stage in enumerate(STAGES)}
        self.inside: dict[Func, list[float]] = {}
        self.edges: dict[Func, list[tuple[Func, float]]] = {}
        for func in raw:
            owner = stage_of(func)
            if owner:
                self.inside[func] = self._unit(owner)
            elif not self._callers(func):
                self.inside[func] = self._unit(OVERHEAD)
            else:
                self.edges[func] = self._weights(func, 3)
                self.inside[func] = [0.0] * len(STAGES)
        self._settle(passes)

    def own(self, func: Func) -> dict[str, float]:
        """Shares of ``func``'s own time (callers weighted by the own time each caused)."""
        weights = self.edges.get(func) and self._weights(func, 2)
        vector = self._mix(weights) if weights else self.inside[func]
        shares = {stage: vector[i] for stage, i in self.index.items() if vector[i] > 0}
        missing = 1.0 - sum(shares.values())
        if missing > 1e-9:
            shares[OVERHEAD] = shares.get(OVERHEAD, 0.0) + missing
        return shares

    def _settle(self, passes: int) -> None:
        for _ in range(passes):
            change = 0.0
            for func, weights in self.edges.items():
                vector = self._mix(weights)
                change += sum(abs(a - b) for a, b in zip(vector, self.inside[func], strict=True))
                self.inside[func] = vector
            if change < 1e-9:
                return

    def _mix(self, weights: list[tuple[Func, float]]) -> list[float]:
        vector = [0.0] * len(STAGES)
        for caller, weight in weights:
            for i, share in enumerate(self.inside.get(caller, ())):
                vector[i] += share * weight
        return vector

    def _callers(self, func: Func) -> dict[Func, Any]:
        callers: dict[Func, Any] = self.raw[func][4]
        return {c: e for c, e in callers.items() if c != func and c in self.raw}

    def _weights(self, func: Func, index: int) -> list[tuple[Func, float]]:
        callers = self._callers(func)
        weights = {c: _edge_weight(e, index) for c, e in callers.items()}
        if sum(weights.values()) <= 0:
            weights = {c: float(e[1]) for c, e in callers.items()}
        total = sum(weights.values()) or 1.0
        return [(c, w / total) for c, w in weights.items()]

    def _unit(self, stage: str) -> list[float]:
        vector = [0.0] * len(STAGES)
        vector[self.index[stage]] = 1.0
        return vector


def _edge_weight(edge: Any, index: int) -> float:
    return float(edge[index]) if len(edge) > index else float(edge[1])


def analyse(prof_path: str | Path, hotspots: int = 25) -> StageReport:
    """Seconds per stage and the top functions by own time."""
    raw: dict[Func, Any] = pstats.Stats(str(prof_path)).stats  # type: ignore[attr-defined]
    attribution = Attribution(raw)
    seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    shares: dict[Func, dict[str, float]] = {}
    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        shares[func] = attribution.own(func)
        for stage, share in shares[func].items():
            seconds[stage] += tt * share
    total = sum(entry[2] for entry in raw.values())
    return StageReport(total, seconds, _hotspots(raw, shares, hotspots))


def _hotspots(
    raw: dict[Func, Any], shares: dict[Func, dict[str, float]], count: int
) -> list[dict[str, Any]]:
    ranked = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:count]
    rows = []
    for func, (_cc, nc, tt, ct, _callers) in ranked:
        stage = max(shares[func].items(), key=lambda kv: kv[1])[0]
        rows.append(
            {"function": describe(func), "calls": nc, "own": tt, "cumulative": ct, "stage": stage}
        )
    return rows


def describe(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    path = filename.replace("\\", "/")
    root = str(ROOT).replace("\\", "/") + "/"
    if path.startswith(root):
        path = path[len(root) :]
    elif "/site-packages/" in path:
        path = path.split("/site-packages/", 1)[1]
    elif "/lib/python" in path:
        path = "stdlib/" + path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{name} ({path}:{line})"
