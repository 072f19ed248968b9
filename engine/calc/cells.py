"""JSON-boundary helpers shared by list objects and hypercubes: cells, pages, dimension info."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import PAGES_TOO_LARGE, QixError
from engine.expr.limits import check_rows
from engine.model.datamodel import DataModel
from engine.model.index import model_index

if TYPE_CHECKING:
    from engine.rpc.structs import NxInlineDimensionDef, NxPage


#: The engine refuses data pages of more cells than this.
MAX_PAGE_CELLS = 10_000
#: What one rendered cell costs until it is sent (a dict of text, number, state; its JSON)
CELL_BYTES = 512
NULL_TEXT = "-"


def qnum(x: float) -> float | int | str:
    """A number as the wire carries it: NaN is the string ``"NaN"``, infinities ``"Infinity"``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return int(x) if x == int(x) and abs(x) < 2**53 else x


@dataclass(frozen=True)
class Page:
    """A requested NxPage clipped to a ``width`` × ``height`` matrix."""

    left: int
    top: int
    width: int
    height: int

    @classmethod
    def clip(cls, page: NxPage, width: int, height: int, min_width: int = 0) -> Page:
        left = max(0, int(page.get("qLeft", 0) or 0))
        top = max(0, int(page.get("qTop", 0) or 0))
        w = max(int(page.get("qWidth", 0) or 0), min_width)
        h = max(0, int(page.get("qHeight", 0) or 0))
        w = max(0, min(w, width - left))
        h = max(0, min(h, height - top))
        if w * h > MAX_PAGE_CELLS:
            raise QixError(PAGES_TOO_LARGE, f"{w * h} cells")
        return cls(left, top, w, h)

    @classmethod
    def check_all(cls, pages: list[NxPage], width: int, height: int, min_width: int = 0) -> None:
        """Refuse a request whose pages together (each within ``MAX_PAGE_CELLS``) would take more than
        the request's memory: a thousand pages of 10,000 cells is ten million cell objects."""
        if not isinstance(pages, list):
            return
        cells = sum(
            p.width * p.height
            for p in (cls.clip(q, width, height, min_width) for q in pages if isinstance(q, dict))
        )
        check_rows(cells, CELL_BYTES, "The requested pages", PAGES_TOO_LARGE)

    def area(self) -> dict[str, object]:
        return {"qLeft": self.left, "qTop": self.top, "qWidth": self.width, "qHeight": self.height}


def glyph_count(model: DataModel, field_name: str) -> int:
    """Longest text among the field's symbols (the engine's qApprMaxGlyphCount)."""
    syms = model.fields[field_name].symbols

    def build() -> int:
        return syms.max_text_length()

    return model_index(model).field_cached("glyphs", field_name, build)


def dimension_type(model: DataModel, field_name: str) -> str:
    """``N`` numeric, ``T`` time (dates, timestamps), ``D`` discrete (text or mixed)."""
    tags = model.fields[field_name].tags
    if "$timestamp" in tags or "$date" in tags:
        return "T"
    return "N" if "$numeric" in tags else "D"


def num_range(nums: np.ndarray) -> tuple[float | str, float | str]:
    """(min, max) of the numeric values, as wire numbers (``"NaN"`` when there are none)."""
    finite = nums[~np.isnan(nums)]
    if not finite.size:
        return "NaN", "NaN"
    return qnum(float(finite.min())), qnum(float(finite.max()))


DEFAULT_DIM_NUMFORMAT = {"qType": "U", "qnDec": 0, "qUseThou": 0}


def dimension_info(
    model: DataModel,
    field_name: str,
    title: str,
    *,
    sort_indicator: str,
    state_counts: dict[str, int],
    cardinal: int,
    cube_cardinal: int,
    values_num: np.ndarray,
) -> dict[str, object]:
    """One NxDimensionInfo for a field dimension."""
    qmin, qmax = num_range(values_num)
    return {
        "qFallbackTitle": title,
        "qApprMaxGlyphCount": glyph_count(model, field_name),
        "qCardinal": cardinal,
        "qSortIndicator": sort_indicator,
        "qGroupFallbackTitles": [title],
        "qGroupPos": 0,
        "qStateCounts": state_counts,
        "qTags": list(model.fields[field_name].tags),
        "qDimensionType": dimension_type(model, field_name),
        "qGrouping": "N",
        "qNumFormat": dict(DEFAULT_DIM_NUMFORMAT),
        "qIsAutoFormat": True,
        "qGroupFieldDefs": [field_name],
        "qMin": qmin,
        "qMax": qmax,
        "qAttrExprInfo": [],
        "qAttrDimInfo": [],
        "qCardinalities": {
            "qCardinal": cardinal,
            "qHypercubeCardinal": cube_cardinal,
            "qAllValuesCardinal": -1,
        },
    }


def info_extras(item: Mapping[str, object]) -> dict[str, object]:
    """What an NxDimensionInfo / NxMeasureInfo carries over from its definition ``item`` (an NxDimension or
    NxMeasure): the custom properties of its ``qDef`` (nebula.js charts keep ``cId``, ``textAlign``,
    ``columnWidth`` there and read them back from the layout), its ``qLibraryId``, and a reversed sort."""
    qdef = item.get("qDef")
    inner: Mapping[str, object] = qdef if isinstance(qdef, dict) else {}
    out = {k: v for k, v in inner.items() if not k.startswith("q")}
    if item.get("qLibraryId"):
        out["qLibraryId"] = item["qLibraryId"]
    if inner.get("qReverseSort"):
        out["qReverseSort"] = True
    return out


def field_def_name(qdef: NxInlineDimensionDef) -> str:
    """The field named by an NxInlineDimensionDef (first of qFieldDefs; a leading ``=`` is kept)."""
    defs = qdef.get("qFieldDefs") or []
    return str(defs[0]) if defs else ""


def field_label(qdef: NxInlineDimensionDef, name: str) -> str:
    labels = qdef.get("qFieldLabels") or []
    return str(labels[0]) if labels and labels[0] else name
