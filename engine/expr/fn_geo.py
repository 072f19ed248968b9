"""Geospatial functions over Qlik's geometry strings, and the Chi2Test aggregations.

Qlik writes a geometry as its GeoJSON coordinate array: ``[lon,lat]`` a point, ``[[x,y],...]`` a
line, ``[[[x,y],...]]`` a polygon, ``[[[[x,y],...]]]`` a multipolygon (a full GeoJSON geometry object
is read too). shapely does the geometry; results are written back in the same array form, compact.
Per distinct input text, never per row. Unreadable geometry is NULL.

Chi2Test_chi2/_df/_p(col, row, observed [, expected]) live here because, like the Geo aggregations,
they read text arguments per row (``aggregations.TEXT_GROUP_KERNELS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import orjson
import scipy.stats as sst
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from .aggregations import TEXT_GROUP_KERNELS
from .duals import Duals, map_distinct
from .functions import RowEnv, ScalarFunction, _nums, _scalar_text, aggregation, scalar

_R = 6378137.0  # web Mercator sphere radius (metres)


def _depth(value: object) -> int:
    d = 0
    while isinstance(value, list) and value:
        value = value[0]
        d += 1
    return d


def parse_geometry(text: str | None) -> BaseGeometry | None:
    """A geometry from a Qlik geometry string (coordinate array or GeoJSON object), or None."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
        if isinstance(value, dict):
            return shape(value)
        kind = {
            1: Point,
            2: LineString,
            3: lambda c: Polygon(c[0], c[1:]),
            4: lambda c: MultiPolygon([Polygon(p[0], p[1:]) for p in c]),
        }.get(_depth(value))
        return kind(value) if kind is not None else None
    except (
        orjson.JSONDecodeError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        shapely.errors.GEOSException,
    ):
        return None


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _coords(value: object) -> object:
    if isinstance(value, (tuple, list)):
        if value and not isinstance(value[0], (tuple, list)):
            return [_number(v) for v in value[:2]]
        return [_coords(v) for v in value]
    return value


def geometry_text(geom: BaseGeometry | None) -> str | None:
    """The Qlik coordinate-array text of a geometry."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(parts) if parts else None
        if geom is None:
            return None
    return orjson.dumps(_coords(mapping(geom)["coordinates"])).decode()


def _per_text(d: Duals, fn: Callable[[BaseGeometry | None], str | None]) -> Duals:
    return Duals.from_texts(map_distinct(d.display_text(), lambda t: fn(parse_geometry(t))))


@scalar("GeoMakePoint", 2)
def _makepoint(env: RowEnv, lat: Duals, lon: Duals) -> Duals:
    la, lo = _nums(env, lat, lon)
    out = np.array(
        [
            None if math.isnan(a + b) else orjson.dumps([_number(b), _number(a)]).decode()
            for a, b in zip(la, lo, strict=True)
        ],
        dtype=object,
    )
    return Duals.from_texts(out)


@scalar("GeoCountVertex", 1)
def _countvertex(env: RowEnv, g: Duals) -> Duals:
    def count(t: str | None) -> float:
        geom = parse_geometry(t)
        return float(shapely.get_num_coordinates(geom)) if geom is not None else math.nan

    texts = g.display_text()
    return Duals.from_numbers(np.array([count(t) for t in texts], dtype=np.float64))


def _bbox_text(geom: BaseGeometry | None) -> str | None:
    """``[left, right, top, bottom]``, the reference's order."""
    if geom is None or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return orjson.dumps([_number(minx), _number(maxx), _number(maxy), _number(miny)]).decode()


@scalar("GeoGetBoundingBox", 1)
def _getbbox(env: RowEnv, g: Duals) -> Duals:
    return _per_text(g, _bbox_text)


@scalar("GeoGetPolygonCenter", 1)
def _center(env: RowEnv, g: Duals) -> Duals:
    return _per_text(
        g, lambda geom: geometry_text(geom.centroid) if geom is not None and not geom.is_empty else None
    )


def _mercator(xy: np.ndarray) -> np.ndarray:
    lon, lat = xy[:, 0], np.clip(xy[:, 1], -85.05112878, 85.05112878)
    return np.column_stack([np.radians(lon) * _R, _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))])


def _inverse_mercator(xy: np.ndarray) -> np.ndarray:
    return np.column_stack(
        [np.degrees(xy[:, 0] / _R), np.degrees(2 * np.arctan(np.exp(xy[:, 1] / _R)) - np.pi / 2)]
    )


def _identity(xy: np.ndarray) -> np.ndarray:
    return xy


def _projection(kind: str | None, inverse: bool) -> Callable[[np.ndarray], np.ndarray] | None:
    k = (kind or "unit").strip().lower()
    if k == "unit":
        return _identity
    if k == "mercator":
        return _inverse_mercator if inverse else _mercator
    return None


def _project_fn(inverse: bool) -> ScalarFunction:
    def fn(env: RowEnv, kind: Duals, g: Duals) -> Duals:
        proj = _projection(_scalar_text(kind), inverse)
        if proj is None:
            return Duals.nulls(len(g))
        return _per_text(
            g, lambda geom: geometry_text(shapely.transform(geom, proj)) if geom is not None else None
        )

    return fn


scalar("GeoProject", 2)(_project_fn(False))
scalar("GeoProjectGeometry", 2)(_project_fn(False))
scalar("GeoInvProjectGeometry", 2)(_project_fn(True))


# ==================================================================================================
# Aggregations


def _geoms(texts: np.ndarray) -> list[BaseGeometry]:
    cache: dict[str, BaseGeometry | None] = {}
    out = []
    for t in texts:
        if t is None:
            continue
        if t not in cache:
            cache[t] = parse_geometry(t)
        geom = cache[t]
        if geom is not None:
            out.append(geom)
    return out


def _aggr_geometry(cols: list[np.ndarray]) -> str | None:
    parts = _geoms(cols[0])
    return geometry_text(shapely.union_all(parts)) if parts else None


def _bounding_box(cols: list[np.ndarray]) -> str | None:
    parts = _geoms(cols[0])
    return _bbox_text(shapely.union_all(parts)) if parts else None


def _reduce_geometry(cols: list[np.ndarray]) -> str | None:
    """The areas kept apart (their own boundaries) in one multipolygon, vertices thinned by a
    tolerance that grows with ``value`` (0 = none, 1 = maximal)."""
    parts = _geoms(cols[0])
    if not parts:
        return None
    level = 0.0
    if len(cols) > 1 and len(cols[1]) and cols[1][0] is not None:
        try:
            level = min(max(float(cols[1][0]), 0.0), 1.0)
        except ValueError:
            level = 0.0
    polys = [p for g in parts for p in (getattr(g, "geoms", None) or [g]) if p.geom_type == "Polygon"]
    merged: BaseGeometry = (
        MultiPolygon(polys) if polys and len(polys) == len(parts) else shapely.union_all(parts)
    )
    minx, miny, maxx, maxy = merged.bounds
    tolerance = level * 0.05 * math.hypot(maxx - minx, maxy - miny)
    return geometry_text(merged.simplify(tolerance, preserve_topology=True) if tolerance else merged)


TEXT_GROUP_KERNELS.update(
    {
        "GEOAGGRGEOMETRY": _aggr_geometry,
        "GEOBOUNDINGBOX": _bounding_box,
        "GEOREDUCEGEOMETRY": _reduce_geometry,
    }
)
aggregation("GeoAggrGeometry", 1)
aggregation("GeoBoundingBox", 1)
aggregation("GeoReduceGeometry", 1, 2)


def _chi2(cols: list[np.ndarray]) -> tuple[float, float, float]:
    """(chi2, degrees of freedom, p) of a contingency table given as (col, row, observed[, expected])."""
    col, row, obs = cols[0], cols[1], cols[2]
    expected = cols[3] if len(cols) > 3 else None
    cells: dict[tuple[str, str], list[float]] = {}
    for i, (c, r, o) in enumerate(zip(col, row, obs, strict=True)):
        try:
            ov = float(o)
            ev = float(expected[i]) if expected is not None else math.nan
        except (TypeError, ValueError):
            continue
        if c is None or r is None or math.isnan(ov):
            continue
        acc = cells.setdefault((c, r), [0.0, 0.0])
        acc[0] += ov
        acc[1] += 0.0 if math.isnan(ev) else ev
    if not cells:
        return math.nan, math.nan, math.nan
    cs = sorted({c for c, _ in cells})
    rs = sorted({r for _, r in cells})
    table = np.array([[cells.get((c, r), [0.0, 0.0])[0] for c in cs] for r in rs])
    df = float((len(cs) - 1) * (len(rs) - 1))
    if expected is not None:
        exp = np.array([[cells.get((c, r), [0.0, 0.0])[1] for c in cs] for r in rs])
    else:
        total = table.sum()
        exp = np.outer(table.sum(axis=1), table.sum(axis=0)) / total if total else table * np.nan
    with np.errstate(all="ignore"):
        stat = float(np.nansum(np.where(exp > 0, (table - exp) ** 2 / exp, np.nan)))
    p = float(sst.chi2.sf(stat, df)) if df > 0 else math.nan
    return stat, df, p


def _chi2_part(i: int) -> Callable[[list[np.ndarray]], float | None]:
    def kernel(cols: list[np.ndarray]) -> float | None:
        v = _chi2(cols)[i]
        return None if math.isnan(v) else v

    return kernel


for _i, _part in enumerate(("CHI2", "DF", "P")):
    TEXT_GROUP_KERNELS[f"CHI2TEST_{_part}"] = _chi2_part(_i)
    aggregation(f"Chi2Test_{_part}", 3, 4)
