"""Chart expressions without dimensions: ``Doc.Evaluate``, ``qStringExpression``/``qValueExpression``.

An expression is a one-measure hypercube with no dimensions: its single cell aggregates over every
possible row of the session's state.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.calc.hypercube import HyperCube
from engine.errors import QixError
from engine.expr import parse_expression
from engine.model.datamodel import DataModel
from engine.model.selection import Inference


def evaluate_expression(model: DataModel, inf: Inference, expr_text: str,
                        variables: Callable[[str], str | None]) -> tuple[str | None, float]:
    """(text, number) of ``expr_text``; raises ``QixError``/``ExprSyntaxError`` when it is invalid."""
    parse_expression(expr_text)  # syntax errors surface here, with their position
    cube = HyperCube(model, inf, {"qMeasures": [{"qDef": {"qDef": expr_text}}]}, variables=variables)
    if cube.errors and cube.errors[0]:
        raise QixError(8, cube.errors[0])
    value = cube.values[0] if cube.nrows else cube.totals[0]
    if not len(value):
        return None, float("nan")
    num = float(value.num[0])
    text = value.display_text()[0]
    return text, num
