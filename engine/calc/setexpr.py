"""Set analysis: a set expression (``{1-$<Year={2020}>}``) → the records an aggregation runs over.

A set entity (identifier + modifiers) is a selection state: the identifier gives the starting state
(``$`` / none: the chart's state, ``1``: no selections, ``$1``/``$_1``, a bookmark or an alternate
state through the ``states`` callback), each modifier replaces, extends (``+=``), narrows (``*=``,
``-=``) or flips (``/=``) one field's selection, or clears it (``F=``). The state is then inferred on
top of the same section-access reduction as every other calculation (``{1}`` means "no
selections", never "no reduction"). Inferences are cached per state key for the life of a resolver
(one layout).

Operators between entities (``+ - * /``) are record algebra: the frame is joined over the union of
the operands' possible rows, and each frame row is kept according to its membership in each
operand (a row belongs to an operand when every table row in it is possible there).

Element sets: ``'text'`` matches the exact text (case-sensitive); ``"search"`` is a search string
(case-insensitive text, wildcards, ``">5"`` numeric, ``"=expr"`` per value, see ``calc.search``); a
bare number matches the number; ``G`` / ``S::G`` the selected (else possible) values of another
field; ``P({set} G)`` / ``E({set} G)`` the possible / excluded values of ``G`` in ``set``; ``+ - * /``
combine element sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.calc.aggregate import Aggregator
from engine.calc.join import Frame, JoinPlan, build_frame
from engine.calc.search import search_mask
from engine.errors import INVALID_PARAMETERS, QixError
from engine.expr import (
    ElementField,
    ElementFunction,
    ElementList,
    ElementSet,
    ElementSetOp,
    ElementValue,
    Locale,
    SetEntity,
    SetExpr,
    SetModifier,
    SetOp,
)
from engine.model.datamodel import DataModel
from engine.model.selection import EMPTY_STATE, Inference, SelectionState, infer

StatesLookup = Callable[[str], "SelectionState | None"]
VariableLookup = Callable[[str], "str | None"]


def _no_variables(name: str) -> str | None:
    return None


class SetResolver:
    """Resolves set expressions for one calculation (a layout, an Evaluate call).

    ``inf`` is the calculation's own inference (its state is the chart's state, its ``base`` the
    section-access reduction); ``plan`` the join plan of the calculation's tables; ``states`` maps
    identifiers (``$``, alternate state names, bookmark ids, ``$1``) to selection states.
    """

    def __init__(
        self,
        model: DataModel,
        inf: Inference,
        plan: JoinPlan,
        *,
        states: StatesLookup | None = None,
        variables: VariableLookup | None = None,
        locale: Locale | None = None,
    ) -> None:
        self.model = model
        self.inf = inf
        self.plan = plan
        self.states = states
        self.variables = variables or _no_variables
        self.locale = locale or Locale()
        self._infs: dict[tuple[object, ...], Inference] = {inf.state.key(): inf}
        self._aggs: dict[SetExpr, Aggregator] = {}
        #: keys of modified states that select nothing (an empty element set): no records at all
        self._empty: set[tuple[object, ...]] = set()

    # --- states and inferences -------------------------------------------------------------------
    def identifier_state(self, identifier: str | None) -> SelectionState:
        if identifier is None:
            return self.inf.state
        if identifier == "1":
            return EMPTY_STATE
        found = self.states(identifier) if self.states is not None else None
        if found is None and identifier == "$":
            return self.inf.state
        if found is None:
            raise QixError(INVALID_PARAMETERS, identifier, f"Unknown set identifier: {identifier}")
        return found

    def inference(self, state: SelectionState) -> Inference:
        """The inference of ``state`` on the calculation's reduction (cached per state)."""
        key = state.key()
        hit = self._infs.get(key)
        if hit is None:
            if key in self._empty:
                masks = {t: np.zeros(tb.nrows, dtype=bool) for t, tb in self.model.tables.items()}
                hit = Inference(self.model, state, self.inf.base, masks, frozenset(masks))
            else:
                hit = infer(self.model, state, self.inf.base)
            self._infs[key] = hit
        return hit

    def inference_of(self, state_name: str | None) -> Inference | None:
        """The inference of a named state (``None``/empty: the calculation's own)."""
        if not state_name:
            return self.inf
        try:
            return self.inference(self.identifier_state(state_name))
        except QixError:
            return None

    def entity_state(self, ent: SetEntity) -> SelectionState:
        """The selection state a set entity stands for (identifier state with modifiers applied)."""
        start = self.identifier_state(ent.identifier)
        if not ent.modifiers:
            return start
        start_inf = self.inference(start)
        sel: dict[str, np.ndarray] = {f: a for f in start.fields if (a := start.selected(f)) is not None}
        empty = False
        for mod in ent.modifiers:
            empty = not self._modify(sel, mod, start, start_inf) or empty
        out = SelectionState(sel)
        if empty:
            self._empty.add(out.key())
        return out

    def _modify(
        self, sel: dict[str, np.ndarray], mod: SetModifier, start: SelectionState, start_inf: Inference
    ) -> bool:
        """Apply one modifier to ``sel``; False when it leaves the field with no value selected."""
        f = mod.field
        if f not in self.model.fields:
            raise QixError(INVALID_PARAMETERS, f, f"Field not found in set modifier: {f}")
        if mod.elements is None:
            sel.pop(f, None)
            return True
        n = len(self.model.fields[f].symbols)
        elems = self.elements(mod.elements, f, start, start_inf)
        cur = sel.get(f)
        if mod.op == "=":
            out = elems
        else:
            curmask = np.zeros(n, dtype=bool)
            if cur is None:
                curmask[:] = start_inf.exists(f)
            else:
                curmask[cur[cur < n]] = True
            out = {
                "+=": curmask | elems,
                "-=": curmask & ~elems,
                "*=": curmask & elems,
                "/=": curmask ^ elems,
            }[mod.op]
        idx = np.flatnonzero(out & start_inf.exists(f))
        # an empty element set selects nothing: a symbol index past the end matches no row
        sel[f] = idx if idx.size else np.array([n], dtype=np.int64)
        return bool(idx.size)

    # --- element sets ------------------------------------------------------------------------------
    def elements(self, es: ElementSet, field: str, start: SelectionState, start_inf: Inference) -> np.ndarray:
        """Bool mask over ``field``'s symbols."""
        n = len(self.model.fields[field].symbols)
        if isinstance(es, ElementList):
            out = np.zeros(n, dtype=bool)
            for v in es.items:
                out |= self._value(v, field, start_inf)
            return out
        if isinstance(es, ElementSetOp):
            a = self.elements(es.left, field, start, start_inf)
            b = self.elements(es.right, field, start, start_inf)
            result: np.ndarray = {"+": a | b, "-": a & ~b, "*": a & b, "/": a ^ b}[es.op]
            return result
        if isinstance(es, ElementField):
            src = es.field
            if src not in self.model.fields:
                raise QixError(INVALID_PARAMETERS, src, f"Field not found: {src}")
            inf = start_inf if es.state is None else self.inference(self.identifier_state(es.state))
            mask = inf.selected_mask(src) if inf.has_selection(src) else inf.possible(src)
            return self.map_values(src, mask, field)
        if isinstance(es, ElementFunction):
            src = es.field or field
            if src not in self.model.fields:
                raise QixError(INVALID_PARAMETERS, src, f"Field not found: {src}")
            possible = (
                self._possible_in(es.set_expr, src) if es.set_expr is not None else start_inf.possible(src)
            )
            mask = possible if es.func == "P" else self.inf.exists(src) & ~possible
            return self.map_values(src, mask, field)
        raise QixError(INVALID_PARAMETERS, field, f"Unsupported element set: {es!r}")

    def _possible_in(self, expr: SetExpr, field: str) -> np.ndarray:
        if isinstance(expr, SetOp):
            a, b = self._possible_in(expr.left, field), self._possible_in(expr.right, field)
            result: np.ndarray = {"+": a | b, "-": a & ~b, "*": a & b, "/": a ^ b}[expr.op]
            return result
        assert isinstance(expr, SetEntity)
        return self.inference(self.entity_state(expr)).possible(field)

    def _value(self, v: ElementValue, field: str, start_inf: Inference) -> np.ndarray:
        syms = self.model.fields[field].symbols
        if v.kind == "search":
            return search_mask(
                self.model,
                start_inf,
                field,
                v.text,
                locale=self.locale,
                evaluate_symbols=lambda f, e: self._symbol_truth(start_inf, f, e),
            )
        out = syms.text == v.text
        if v.kind == "number" or v.kind == "literal":
            try:
                x = float(v.text)
            except ValueError:
                x = math.nan
            if not math.isnan(x):
                out = out | (syms.num == x)
        return np.asarray(out, dtype=bool)

    def _symbol_truth(self, inf: Inference, field: str, expr: str) -> np.ndarray:
        from engine.calc.evaluation import symbol_truth

        return symbol_truth(
            self.model, inf, field, expr, variables=self.variables, states=self.states, locale=self.locale
        )

    def map_values(self, src: str, mask: np.ndarray, dst: str) -> np.ndarray:
        """The symbols of ``dst`` with the same values (number, else text) as ``src``'s in ``mask``."""
        if src == dst:
            return mask.copy()
        s = self.model.fields[src].symbols
        d = self.model.fields[dst].symbols
        pick = np.flatnonzero(mask)
        nums = s.num.take(pick)
        has = ~np.isnan(nums)
        out = np.isin(d.num, nums[has]) & ~np.isnan(d.num)
        texts = s.text.take(pick[~has])
        if texts.size:
            wanted = set(texts.tolist())
            out |= np.isnan(d.num) & np.fromiter((t in wanted for t in d.text), dtype=bool, count=len(d.text))
        result: np.ndarray = out
        return result

    # --- records -----------------------------------------------------------------------------------
    def _leaves(self, expr: SetExpr) -> list[SetEntity]:
        if isinstance(expr, SetOp):
            return self._leaves(expr.left) + self._leaves(expr.right)
        assert isinstance(expr, SetEntity)
        return [expr]

    def frame(self, expr: SetExpr) -> tuple[Frame, Inference]:
        """The joined records of a set expression, and the inference they were joined under."""
        if isinstance(expr, SetEntity):
            inf = self.inference(self.entity_state(expr))
            return build_frame(self.model, inf, self.plan), inf
        leaves = {leaf: self.inference(self.entity_state(leaf)) for leaf in self._leaves(expr)}
        masks: dict[str, np.ndarray] = {}
        for t in self.plan.tables:
            rows = [inf.rows(t) for inf in leaves.values()]
            parts = [p for p in rows if p is not None]
            if len(parts) < len(rows):
                continue
            m = parts[0].copy()
            for p in parts[1:]:
                m |= p
            masks[t] = m
        union = Inference(self.model, EMPTY_STATE, self.inf.base, masks, frozenset(masks))
        frame = build_frame(self.model, union, self.plan)
        member: dict[SetEntity, np.ndarray] = {}
        for leaf, inf in leaves.items():
            keep = np.ones(frame.n, dtype=bool)
            for t, r in frame.rows.items():
                allowed = inf.rows(t)
                if allowed is None:
                    continue
                keep &= np.where(r >= 0, allowed.take(np.maximum(r, 0)), True)
            member[leaf] = keep

        def combine(e: SetExpr) -> np.ndarray:
            if isinstance(e, SetEntity):
                return member[e]
            assert isinstance(e, SetOp)
            a, b = combine(e.left), combine(e.right)
            result: np.ndarray = {"+": a | b, "-": a & ~b, "*": a & b, "/": a ^ b}[e.op]
            return result

        sel = np.flatnonzero(combine(expr))
        sub = Frame(len(sel), {t: r.take(sel) for t, r in frame.rows.items()}, frame.order, set(frame.unique))
        return sub, union

    def aggregator(self, expr: object) -> Aggregator:
        """An aggregator over the records of ``expr`` (cached per expression)."""
        assert isinstance(expr, (SetEntity, SetOp))
        hit = self._aggs.get(expr)
        if hit is None:
            frame, inf = self.frame(expr)
            hit = Aggregator(self.model, frame, self.locale, self.variables, inf=inf, sets=self)
            self._aggs[expr] = hit
        return hit
