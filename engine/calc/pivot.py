"""Pivot (``qMode`` ``P``) and stacked (``K``) views of a computed hypercube.

The cube's groups (one per combination of dimension values, already sorted hierarchically) are split
into *left* dimensions (the first ``qNoOfLeftDims``; ``-1`` means all of them) and *top* dimensions
(the rest). The pivot matrix has one row per distinct left combination and one column per distinct
top combination × measure; a page of it is an ``NxPivotPage``: ``qLeft`` / ``qTop`` are the trees of
``NxPivotDimensionCell`` covering the page's rows / columns (``qUp`` / ``qDown`` count the leaves of a
node outside the page), ``qData`` the rows of ``NxPivotValuePoint``. When there is no top dimension,
or more than one measure, the measures form a last pseudo level of ``qTop`` (``qType`` ``P``).

The view is always fully expanded (``qAlwaysFullyExpanded``): nodes with children can collapse,
none can expand. Totals rows/columns are not produced.

A stacked page (``NxStackPage``) is one root node (``qType`` ``R``) whose tree follows every
dimension over a range of the cube's rows; the leaves are the measure values (``qType`` ``V``) and
every node carries the sums of the positive (``qMaxPos``) and negative (``qMinNeg``) values below it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.calc.aggregate import group_rows
from engine.calc.cells import NULL_TEXT, Page, qnum

if TYPE_CHECKING:
    from engine.rpc.structs import NxPage, NxSelectionCell


if TYPE_CHECKING:
    from engine.calc.hypercube import HyperCube

_EMPTY_ATTRS: dict[str, list[object]] = {"qValues": []}


def _runs(levels: list[np.ndarray]) -> list[np.ndarray]:
    """Per level, the start positions of the runs of equal prefixes (levels 0..k)."""
    out = []
    n = len(levels[0]) if levels else 0
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for codes in levels:
        if n > 1:
            change[1:] |= codes[1:] != codes[:-1]
        out.append(np.flatnonzero(change))
    return out


def _tree(
    levels: list[np.ndarray],
    lo: int,
    hi: int,
    make: Callable[[int, int, int, int, int, list[dict[str, object]]], dict[str, object]],
) -> list[dict[str, object]]:
    """Nodes covering leaf positions ``[lo, hi)``: ``make(level, pos, up, down, end, children)``."""
    if not levels or lo >= hi:
        return []
    n = len(levels[0])
    starts = _runs(levels)

    def build(k: int, a: int, b: int) -> list[dict[str, object]]:
        out = []
        st = starts[k]
        p = a
        while p < b:
            ri = int(np.searchsorted(st, p, side="right")) - 1
            rs = int(st[ri])
            re = int(st[ri + 1]) if ri + 1 < len(st) else n
            end = min(re, b)
            kids = build(k + 1, p, end) if k + 1 < len(levels) else []
            out.append(make(k, p, p - rs, re - end, end, kids))
            p = end
        return out

    return build(0, lo, hi)


class PivotView:
    """Left / top trees and the value matrix of a hypercube; see the module docstring."""

    def __init__(self, cube: HyperCube) -> None:
        self.cube = cube
        nd = len(cube.dims)
        raw = cube.qdef.get("qNoOfLeftDims", -1)
        try:
            nl = int(raw) if raw is not None else -1
        except (TypeError, ValueError):
            nl = -1
        self.nleft_dims = nd if nl < 0 or nl > nd else nl
        self.nmeasures = len(cube.measures)
        self.left = list(range(self.nleft_dims))
        self.top = list(range(self.nleft_dims, nd))
        self.left_codes, self.left_of_row = self._axis(self.left)
        self.top_codes, self.top_of_row = self._axis(self.top)
        self.nleft = len(self.left_codes[0]) if self.left else (1 if cube.nrows else 0)
        self.ntop = len(self.top_codes[0]) if self.top else 1
        self.pseudo = self.nmeasures > 1 or not self.top
        self.ncols = self.ntop * max(self.nmeasures, 1) if self.nleft else 0
        key = self.left_of_row * self.ntop + self.top_of_row
        self._order = np.argsort(key, kind="stable")
        self._keys = key.take(self._order)

    def _axis(self, cols: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
        """Distinct combinations of the given dimensions in sort order, and each cube row's index."""
        cube = self.cube
        n = cube.nrows
        if not cols:
            return [], np.zeros(n, dtype=np.int64)
        codes = [cube.gcodes[c] for c in cols]
        sizes = [cube.dims[c].source.size for c in cols]
        ids, k, combo = group_rows(codes, sizes, n)
        ranks = [cube.code_ranks(c).take(cc + 1) for c, cc in zip(cols, combo, strict=True)]
        order = np.lexsort([np.arange(k)] + ranks[::-1]) if k else np.zeros(0, dtype=np.int64)
        pos = np.empty(k, dtype=np.int64)
        pos[order] = np.arange(k)
        return [cc.take(order) for cc in combo], pos.take(ids) if n else np.zeros(0, dtype=np.int64)

    def size(self) -> dict[str, object]:
        return {"qcx": self.ncols, "qcy": self.nleft}

    def _group_at(self, row: int, top: int) -> int:
        k = row * self.ntop + top
        i = int(np.searchsorted(self._keys, k))
        return int(self._order[i]) if i < len(self._keys) and self._keys[i] == k else -1

    # --- cells ---------------------------------------------------------------------------------------
    def _dim_node(
        self, dim: int, code: int, up: int, down: int, kids: list[dict[str, object]], has_dim_kids: bool
    ) -> dict[str, object]:
        d = self.cube.dims[dim]
        value: float | str
        if code < 0:
            text, value, typ = NULL_TEXT, "NaN", "U"
        else:
            text, value, typ = d.symbols.text_at(code), qnum(d.symbols.num_at(code)), "N"
        return {
            "qText": text,
            "qElemNo": int(code) if code >= 0 else -2,
            "qValue": value,
            "qCanExpand": False,
            "qCanCollapse": has_dim_kids,
            "qType": typ,
            "qUp": up,
            "qDown": down,
            "qSubNodes": kids,
            "qAttrExps": dict(_EMPTY_ATTRS, qValues=[]),
            "qAttrDims": dict(_EMPTY_ATTRS, qValues=[]),
        }

    def _pseudo_node(self, mi: int, up: int, down: int) -> dict[str, object]:
        m = self.cube.measures[mi]
        return {
            "qText": m.title,
            "qElemNo": mi,
            "qValue": "NaN",
            "qCanExpand": False,
            "qCanCollapse": False,
            "qType": "P",
            "qUp": up,
            "qDown": down,
            "qSubNodes": [],
            "qAttrExps": {"qValues": []},
            "qAttrDims": {"qValues": []},
        }

    def _value_point(self, group: int, mi: int) -> dict[str, object]:
        if group < 0 or mi >= self.nmeasures:  # (a cube without measures still has one data column)
            return {"qText": NULL_TEXT, "qNum": "NaN", "qType": "E", "qAttrExps": {"qValues": []}}
        cell = self.cube.measure_cell(mi, self.cube.values[mi], group)
        return {"qText": cell["qText"], "qNum": cell["qNum"], "qType": "V", "qAttrExps": {"qValues": []}}

    def _left_tree(self, lo: int, hi: int) -> list[dict[str, object]]:
        levels = self.left_codes
        last = len(levels) - 1

        def make(
            k: int, pos: int, up: int, down: int, end: int, kids: list[dict[str, object]]
        ) -> dict[str, object]:
            return self._dim_node(self.left[k], int(levels[k][pos]), up, down, kids, k < last)

        return _tree(levels, lo, hi, make)

    def _top_tree(self, lo: int, hi: int) -> list[dict[str, object]]:
        nm = max(self.nmeasures, 1)
        cols = np.arange(self.ncols, dtype=np.int64)
        levels = [tc.take(cols // nm) for tc in self.top_codes]
        ndim = len(levels)
        if self.pseudo and self.nmeasures:
            levels.append(cols % nm)

        def make(
            k: int, pos: int, up: int, down: int, end: int, kids: list[dict[str, object]]
        ) -> dict[str, object]:
            if k == ndim:
                return self._pseudo_node(int(levels[k][pos]), up, down)
            return self._dim_node(self.top[k], int(levels[k][pos]), up, down, kids, k < ndim - 1)

        return _tree(levels, lo, hi, make)

    def pages(self, pages: list[NxPage]) -> list[dict[str, object]]:
        """NxPivotPage per requested page (clipped to ``ncols`` × ``nleft``)."""
        out = []
        nm = max(self.nmeasures, 1)
        Page.check_all(pages, self.ncols, self.nleft)
        for p in pages:
            page = Page.clip(p, self.ncols, self.nleft)
            rows = range(page.top, page.top + page.height)
            cols = range(page.left, page.left + page.width)
            data = [[self._value_point(self._group_at(r, c // nm), c % nm) for c in cols] for r in rows]
            out.append(
                {
                    "qLeft": self._left_tree(page.top, page.top + page.height),
                    "qTop": self._top_tree(page.left, page.left + page.width) if page.height else [],
                    "qData": data,
                    "qArea": page.area(),
                }
            )
        return out

    # --- stacked ------------------------------------------------------------------------------------
    def stack_pages(self, pages: list[NxPage], max_cells: int | None = None) -> list[dict[str, object]]:
        """NxStackPage per requested page: rows of the cube, columns of measures."""
        cube = self.cube
        out: list[dict[str, object]] = []
        Page.check_all(pages, self.nmeasures, cube.nrows)
        for p in pages:
            page = Page.clip(p, self.nmeasures, cube.nrows)
            h = page.height
            if max_cells and page.width and page.width * h > max_cells:
                h = max_cells // page.width
            lo = min(page.top, cube.nrows)  # a page that starts past the last row is empty
            hi = lo + h
            mis = list(range(page.left, page.left + page.width))
            leaves_pos = np.zeros(cube.nrows)
            leaves_neg = np.zeros(cube.nrows)
            for mi in mis:
                x = np.nan_to_num(cube.values[mi].num, nan=0.0)
                leaves_pos += np.maximum(x, 0)
                leaves_neg += np.minimum(x, 0)
            cpos = np.concatenate([[0.0], np.cumsum(leaves_pos)])
            cneg = np.concatenate([[0.0], np.cumsum(leaves_neg)])
            levels = list(cube.gcodes)

            def make(
                k: int,
                pos: int,
                up: int,
                down: int,
                end: int,
                kids: list[dict[str, object]],
                cpos: np.ndarray = cpos,
                cneg: np.ndarray = cneg,
                mis: list[int] = mis,
                levels: list[np.ndarray] = levels,
            ) -> dict[str, object]:
                node = self._dim_node(k, int(levels[k][pos]), 0, 0, kids, k < len(levels) - 1)
                node.update(
                    qMaxPos=qnum(float(cpos[end] - cpos[pos])),
                    qMinNeg=qnum(float(cneg[end] - cneg[pos])),
                    qRow=pos,
                    qAttrExps={"qValues": []},
                )
                if k == len(levels) - 1:
                    node["qSubNodes"] = [self._stack_leaf(pos, mi) for mi in mis]
                return node

            if levels:
                kids = _tree(levels, lo, hi, make)
            else:
                kids = [self._stack_leaf(r, mi) for r in range(lo, hi) for mi in mis]
            root = {
                "qText": "",
                "qElemNo": -1,
                "qValue": "NaN",
                "qCanExpand": False,
                "qCanCollapse": False,
                "qType": "R",
                "qMaxPos": qnum(float(cpos[hi] - cpos[lo])),
                "qMinNeg": qnum(float(cneg[hi] - cneg[lo])),
                "qUp": lo,
                "qDown": cube.nrows - hi,
                "qRow": lo,
                "qSubNodes": kids,
                "qAttrExps": {"qValues": []},
                "qAttrDims": {"qValues": []},
            }
            area = {"qLeft": page.left, "qTop": page.top, "qWidth": page.width, "qHeight": h}
            out.append({"qData": [root] if h and page.width else [], "qArea": area})
        return out

    def _stack_leaf(self, row: int, mi: int) -> dict[str, object]:
        cell = self.cube.measure_cell(mi, self.cube.values[mi], row)
        x = float(self.cube.values[mi].num[row])
        v = 0.0 if np.isnan(x) else x
        return {
            "qText": cell["qText"],
            "qElemNo": mi,
            "qValue": cell["qNum"],
            "qCanExpand": False,
            "qCanCollapse": False,
            "qType": "V",
            "qMaxPos": qnum(max(v, 0.0)),
            "qMinNeg": qnum(min(v, 0.0)),
            "qUp": 0,
            "qDown": 0,
            "qRow": row,
            "qSubNodes": [],
            "qAttrExps": {"qValues": []},
            "qAttrDims": {"qValues": []},
        }

    # --- selections ---------------------------------------------------------------------------------
    def cell_selections(self, selections: list[NxSelectionCell]) -> dict[str, np.ndarray]:
        """Symbols per field for SelectPivotCells (see ``HyperCube.pivot_cell_selections``)."""
        cube = self.cube
        nm = max(self.nmeasures, 1)
        picked: dict[str, set[int]] = {}

        def add(dim: int, code: int) -> None:
            f = cube.dims[dim].field
            if f is not None and code >= 0:
                picked.setdefault(f, set()).add(code)

        for sel in selections:
            typ = str(sel.get("qType", "D"))[:1].upper()
            r = int(sel.get("qRow", 0) or 0)
            c = int(sel.get("qCol", 0) or 0)
            if cube.mode == "K":  # stacked: rows are cube rows, every dimension belongs to them
                if 0 <= r < cube.nrows:
                    dims = range(len(cube.dims)) if typ == "D" else [c] if 0 <= c < len(cube.dims) else []
                    for k in dims:
                        add(k, int(cube.gcodes[k][r]))
                continue
            if typ == "D" and not (0 <= r < self.nleft and 0 <= c < self.ncols):
                continue  # a data cell outside the matrix selects nothing
            if typ in ("L", "D") and 0 <= r < self.nleft:
                levels = range(len(self.left)) if typ == "D" else [c] if 0 <= c < len(self.left) else []
                for k in levels:
                    add(self.left[k], int(self.left_codes[k][r]))
            if typ == "T" and 0 <= c < self.ncols and 0 <= r < len(self.top):
                add(self.top[r], int(self.top_codes[r][c // nm]))
            if typ == "D" and 0 <= c < self.ncols:
                for k in range(len(self.top)):
                    add(self.top[k], int(self.top_codes[k][c // nm]))
        return {f: np.asarray(sorted(v), dtype=np.int64) for f, v in picked.items()}
