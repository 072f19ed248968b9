"""Finding, creating and destroying entities for one session's view of an app; variables and their values.

Ids are unique across an app's persisted objects and the session's objects (a child counts too). Variable
names are unique across the app's variables, the session's variables and the script's variables.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.app.objects import Entity, ObjectStore, new_id, normalise_properties
from engine.errors import ALREADY_EXISTS, INVALID_PARAMETERS, QixError
from engine.expr import Duals, evaluate_constant
from engine.expr.expand import expand
from engine.jsonmembers import dict_member
from engine.model.numformat import format_default

if TYPE_CHECKING:
    from engine.app.app import DocSession

#: variables that set number interpretation (``SET ThousandSep=...``): config and reserved
CONFIG_VARIABLES = frozenset(
    {
        "ThousandSep",
        "DecimalSep",
        "MoneyThousandSep",
        "MoneyDecimalSep",
        "MoneyFormat",
        "TimeFormat",
        "DateFormat",
        "TimestampFormat",
        "FirstWeekDay",
        "BrokenWeeks",
        "ReferenceDay",
        "FirstMonthOfYear",
        "CollationLocale",
        "MonthNames",
        "LongMonthNames",
        "DayNames",
        "LongDayNames",
        "NumericalAbbreviation",
        "CreateSearchIndexOnReload",
    }
)
#: system variables the engine reserves (error handling, script behaviour, paths)
RESERVED_VARIABLES = CONFIG_VARIABLES | frozenset(
    {
        "ErrorMode",
        "ScriptError",
        "ScriptErrorCount",
        "ScriptErrorList",
        "ScriptErrorDetails",
        "StripComments",
        "Verbatim",
        "OpenUrlTimeout",
        "HidePrefix",
        "HideSuffix",
        "NullDisplay",
        "NullInterpret",
        "NullValue",
        "OtherSymbol",
        "QvPath",
        "QvRoot",
        "QvWorkPath",
        "QvWorkRoot",
        "WinPath",
        "WinRoot",
        "CD",
        "Floppy",
    }
)

#: how deep variable → expression → variable evaluation may nest before it is taken as a cycle
_MAX_DEPTH = 32


# -- generic objects --------------------------------------------------------------------------------------
def find_object(doc: DocSession, object_id: str) -> Entity | None:
    """A generic object (persisted or this session's, children included) by id."""
    return doc.session_objects.get(object_id) or doc.app.objects.get(object_id)


def all_objects(doc: DocSession, include_session: bool = True) -> Iterator[Entity]:
    """Every generic object, persisted first, parents before their children."""
    stores = [doc.app.objects, doc.session_objects] if include_session else [doc.app.objects]
    for store in stores:
        for root in store.roots():
            yield from root.descendants()


def _object_id_taken(doc: DocSession, object_id: str) -> bool:
    return not object_id or find_object(doc, object_id) is not None


def create_object(doc: DocSession, props: Any, store: ObjectStore, parent: Entity | None = None) -> Entity:
    """Create a generic object in ``store``; an empty or taken id is replaced by a fresh one."""
    props = normalise_properties(props, "object")
    if _object_id_taken(doc, props["qInfo"]["qId"]):
        props["qInfo"]["qId"] = _fresh(lambda i: _object_id_taken(doc, i))
    return store.add(Entity("object", props), parent)


def _fresh(taken: Any) -> str:
    while True:
        candidate = new_id()
        if not taken(candidate):
            return candidate


# -- library entities (dimension, measure, bookmark) ---------------------------------------------------
def create_entity(store: ObjectStore, props: Any) -> Entity:
    """Create a dimension, measure or bookmark; an empty or taken id is replaced by a fresh one."""
    props = normalise_properties(props, store.kind)
    if not props["qInfo"]["qId"] or store.get(props["qInfo"]["qId"]) is not None:
        props["qInfo"]["qId"] = _fresh(lambda i: store.get(i) is not None)
    return store.add(Entity(store.kind, props))


def resolve_library_refs(doc: DocSession, definition: dict[str, Any]) -> dict[str, Any]:
    """A hypercube or list-object def with ``qLibraryId`` references replaced by the library items'
    definitions (a dimension's ``qDim`` becomes the ``qDef``, a measure's ``qMeasure`` likewise); the
    library wins over inline members. Unknown ids are left as they are for the calculation to report."""
    out = dict(definition)

    def merged(item: Any, store: ObjectStore, key: str) -> Any:
        if not isinstance(item, dict) or not item.get("qLibraryId"):
            return item
        entity = store.get(str(item["qLibraryId"]))
        lib = entity.properties.get(key) if entity is not None else None
        if not isinstance(lib, dict):
            return item
        inline = dict_member(item, "qDef")
        return {**item, "qDef": {**inline, **copy.deepcopy(lib)}}

    if isinstance(out.get("qDimensions"), list):
        out["qDimensions"] = [merged(d, doc.app.dimensions, "qDim") for d in out["qDimensions"]]
    if isinstance(out.get("qMeasures"), list):
        out["qMeasures"] = [merged(m, doc.app.measures, "qMeasure") for m in out["qMeasures"]]
    if out.get("qLibraryId"):
        out = merged(out, doc.app.dimensions, "qDim")
    return out


# -- variables ----------------------------------------------------------------------------------------
def all_variables(doc: DocSession) -> Iterator[Entity]:
    yield from doc.app.variables
    yield from doc.session_variables


def variable_by_id(doc: DocSession, variable_id: str) -> Entity | None:
    return doc.session_variables.get(variable_id) or doc.app.variables.get(variable_id)


def variable_by_name(doc: DocSession, name: str) -> Entity | None:
    for var in all_variables(doc):
        if var.properties.get("qName") == name:
            return var
    return None


def create_variable(doc: DocSession, props: Any, store: ObjectStore) -> Entity:
    """Create a variable; its ``qName`` must be new (3 otherwise) and non-empty (8)."""
    props = normalise_properties(props, "variable")
    name = props.get("qName")
    if not isinstance(name, str) or not name.strip():
        raise QixError(INVALID_PARAMETERS, "qName")
    if variable_by_name(doc, name) is not None or name in doc.app.script_variables:
        raise QixError(ALREADY_EXISTS, name)
    props.setdefault("qDefinition", "")
    props.setdefault("qComment", "")

    def taken(i: str) -> bool:
        return not i or variable_by_id(doc, i) is not None

    if taken(props["qInfo"]["qId"]):
        props["qInfo"]["qId"] = _fresh(taken)
    return store.add(Entity("variable", props))


def variable_text(doc: DocSession, name: str) -> str | None:
    """The definition of a variable by name (session, app, then script variables), None if undefined."""
    var = variable_by_name(doc, name)
    if var is not None:
        return str(var.properties.get("qDefinition", ""))
    return doc.app.script_variables.get(name)


def parse_number(text: str) -> float:
    """The number a plain-text variable carries (NaN when it is not one)."""
    try:
        value = float(text.strip())
    except (ValueError, AttributeError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def format_value(num: float) -> str:
    """How SetNumValue writes a number into the definition (``5`` not ``5.0``)."""
    return format_default(num)


def variable_value(doc: DocSession, var: Entity) -> tuple[str, float]:
    """(qText, qNum) of a variable: its set dual, its evaluated ``=`` definition, or its text."""
    definition = str(var.properties.get("qDefinition", ""))
    if var.dual_text is not None and definition == var.dual_text:
        num = var.dual_num if isinstance(var.dual_num, int | float) else math.nan
        return definition, float(num)
    return text_value(doc, definition)


def text_value(doc: DocSession, definition: str) -> tuple[str, float]:
    if definition.startswith("="):
        return safe_evaluate(doc, definition)
    return definition, parse_number(definition)


# -- expressions ----------------------------------------------------------------------------------------
def expression_error_text(err: Exception) -> str:
    """What a layout shows in place of a value whose expression failed."""
    message = getattr(err, "message", None) or str(err)
    return f"Error: {message}"


def json_number(num: float) -> float | str:
    """A number for a layout: NaN as the string ``"NaN"``, the way the engine sends it."""
    return "NaN" if isinstance(num, float) and math.isnan(num) else num


def display_text(text: str | None, num: float) -> str:
    if text is not None:
        return text
    if isinstance(num, float) and math.isnan(num):
        return "-"
    return format_default(num)


def safe_evaluate(doc: DocSession, expr_text: str) -> tuple[str, float]:
    """(text, num) through ``doc.evaluate``; a failing expression yields its error text, never raises."""
    try:
        text, num = doc.evaluate(expr_text)
    except Exception as err:  # any failure of a client's expression is shown, not thrown
        return expression_error_text(err), math.nan
    return display_text(text, num), num


class _Evaluator:
    """Constant evaluation with the session's variables; ``=`` variables expand to their value."""

    def __init__(self, doc: DocSession) -> None:
        self.doc = doc
        self.depth = 0

    def lookup(self, name: str) -> str | None:
        return variable_text(self.doc, name)

    def expand_lookup(self, name: str) -> str | None:
        text = variable_text(self.doc, name)
        if text is not None and text.startswith("="):
            return self.evaluate_text(text)
        return text

    def evaluate_text(self, text: str) -> str:
        value, num = self.run(text)
        return display_text(value, num)

    def run(self, text: str) -> tuple[str | None, float]:
        if self.depth > _MAX_DEPTH:
            raise QixError(INVALID_PARAMETERS, "", "Variables refer to each other in a cycle")
        self.depth += 1
        try:
            expanded = expand(text, self.expand_lookup, self.evaluate_text)
            result: Duals = evaluate_constant(expanded, self.lookup)
            value, num = result.scalar(0)
            return value, num
        finally:
            self.depth -= 1


def expand_dollars(doc: DocSession, text: str) -> str:
    """Dollar-sign expansion of a chart expression with the session's variables (``$(v)``, ``$(=…)``)."""
    if "$(" not in text:
        return text
    ev = _Evaluator(doc)
    return expand(text, ev.expand_lookup, ev.evaluate_text)


def evaluate_constant_expression(doc: DocSession, expr_text: str) -> tuple[str | None, float]:
    """The default ``DocSession.evaluate``: constants, functions and variables, no data."""
    return _Evaluator(doc).run(expr_text)
