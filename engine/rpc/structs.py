"""The QIX structures that methods take as parameters, as far as a handler relies on their shape.

Each ``TypedDict`` here is both the handler's annotation and, compiled by :mod:`engine.rpc.validate`, the
check its parameter passes before the handler runs. Only the keys a handler (or the layer under it) reads
are declared; the others pass through as the client sent them (properties are the client's own). Names
follow the engine's schema (enigma-go ``engine-rpc.json``).

Where a handler hands the value on to a layer that takes plain dicts (calc, app), it is annotated with
one of the ``Annotated`` aliases at the end: the type checker sees the dict, the validator the shape.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from engine.rpc.validate import Anywhere, Shape


class NxPage(TypedDict, total=False):
    """A rectangle of a hypercube or list object's matrix."""

    qLeft: int
    qTop: int
    qWidth: int
    qHeight: int


class NxSelectionCell(TypedDict, total=False):
    """A pivot or stacked cell to select: ``qType`` L (left), T (top) or D (data)."""

    qType: str
    qRow: int
    qCol: int


class Range(TypedDict, total=False):
    qMin: float
    qMax: float
    qMinInclEq: bool
    qMaxInclEq: bool


class NxRangeSelectInfo(TypedDict, total=False):
    qRange: Range
    qMeasureIx: int


# -- definitions inside properties, as the calculation layer reads them -------------------------------------
class ValueExpr(TypedDict, total=False):
    qv: str


class SortCriteria(TypedDict, total=False):
    qSortByState: int
    qSortByFrequency: int
    qSortByNumeric: int
    qSortByAscii: int
    qSortByLoadOrder: int
    qSortByExpression: int
    qExpression: ValueExpr | str


class FieldAttributes(TypedDict, total=False):
    """A number format (``qNumFormat``)."""

    qType: str
    qnDec: int
    qUseThou: int
    qFmt: str
    qDec: str
    qThou: str


class NxInlineDimensionDef(TypedDict, total=False):
    qGrouping: str
    qFieldDefs: list[str]
    qFieldLabels: list[str]
    qSortCriterias: list[SortCriteria]
    qReverseSort: bool
    qActiveField: int
    qLabelExpression: str


class NxInlineMeasureDef(TypedDict, total=False):
    qLabel: str
    qDescription: str
    qTags: list[str]
    qGrouping: str
    qDef: str
    qNumFormat: FieldAttributes
    qRelative: bool
    qBrutalSum: bool
    qAggrFunc: str
    qAccumulate: int
    qReverseSort: bool
    qActiveExpression: int
    qExpressions: list[str]
    qLabelExpression: str


class NxCalcCond(TypedDict, total=False):
    qCond: ValueExpr | str
    qMsg: ValueExpr | str


class NxDimension(TypedDict, total=False):
    qLibraryId: str
    qDef: NxInlineDimensionDef
    qNullSuppression: bool
    qIncludeElemValue: bool
    qShowTotal: bool
    qShowAll: bool
    qCalcCondition: NxCalcCond


class NxMeasure(TypedDict, total=False):
    qLibraryId: str
    qDef: NxInlineMeasureDef
    qSortBy: SortCriteria
    qCalcCondition: NxCalcCond


class HyperCubeDef(TypedDict, total=False):
    qStateName: str
    qDimensions: list[NxDimension]
    qMeasures: list[NxMeasure]
    qInterColumnSortOrder: list[int]
    qSuppressZero: bool
    qSuppressMissing: bool
    qInitialDataFetch: list[NxPage]
    qMode: str | int
    qNoOfLeftDims: int
    qAlwaysFullyExpanded: bool
    qMaxStackedCells: int
    qPopulateMissing: bool
    qShowTotalsAbove: bool
    qIndentMode: bool
    qCalcCond: ValueExpr | str
    qCalcCondition: NxCalcCond
    qColumnOrder: list[int]
    qContextSetExpression: str


class NxListObjectExpressionDef(TypedDict, total=False):
    qExpr: str
    qLibraryId: str


class ListObjectDef(TypedDict, total=False):
    qStateName: str
    qLibraryId: str
    qDef: NxInlineDimensionDef
    qFrequencyMode: str | int
    qShowAlternatives: bool
    qInitialDataFetch: list[NxPage]
    qExpressions: list[NxListObjectExpressionDef | str]


class SelectionObjectDef(TypedDict, total=False):
    qStateName: str


#: the definitions a layout computes wherever they are in the properties
DEFINITIONS = Anywhere(
    {
        "qHyperCubeDef": HyperCubeDef,
        "qListObjectDef": ListObjectDef,
        "qSelectionObjectDef": SelectionObjectDef,
    }
)


class NxInfo(TypedDict, total=False):
    qId: str
    qType: str


class GenericProperties(TypedDict, total=False):
    """What every generic object, dimension, measure, bookmark and variable has in its properties."""

    qInfo: NxInfo
    qExtendsId: str
    qStateName: str
    qMetaDef: dict[str, Any]


class EntityProperties(GenericProperties, total=False):
    """Properties of any library entity: the dimension, measure and variable members are declared too,
    as the layouts of each kind read them."""

    qDim: NxInlineDimensionDef  # merged into the qDef of a dimension that names it (qLibraryId)
    qMeasure: NxInlineMeasureDef
    qName: str
    qComment: str
    qDefinition: str
    qIncludeInBookmark: bool


class GenericPropertyTree(TypedDict, total=False):
    qProperty: GenericProperties
    qChildren: list[GenericPropertyTree]


class NxPatch(TypedDict, total=False):
    qOp: str
    qPath: str
    qValue: str


class FieldValue(TypedDict, total=False):
    qText: str
    qIsNumeric: bool
    qNumber: float


class NxFieldProperties(TypedDict, total=False):
    qOneAndOnlyOne: bool


class SearchCombinationOptions(TypedDict, total=False):
    qSearchFields: list[str]
    qContext: str
    qCharEncoding: str
    qAttributes: list[str]


class SearchPage(TypedDict, total=False):
    qOffset: int
    qCount: int
    qMaxNbrFieldMatches: int


class NxGetObjectOptions(TypedDict, total=False):
    qTypes: list[str]
    qIncludeSessionObjects: bool
    qData: dict[str, Any]


class Connection(TypedDict, total=False):
    qId: str
    qName: str
    qConnectionString: str
    qType: str
    qUserName: str
    qPassword: str
    qLogOn: str


class ReloadParams(TypedDict, total=False):
    qMode: int
    qPartial: bool
    qDebug: bool
    qReloadId: str
    qSkipStore: bool
    qRowLimit: int


class Size(TypedDict, total=False):
    qcx: int
    qcy: int


# -- plain dicts for the layers below, checked as the structures above -----------------------------------
Pages = Annotated[list[NxPage], Shape(list[NxPage])]
SelectionCells = Annotated[list[NxSelectionCell], Shape(list[NxSelectionCell])]
Patches = Annotated[list[dict[str, Any]], Shape(list[NxPatch])]
ObjectProperties = Annotated[dict[str, Any], Shape(GenericProperties, DEFINITIONS)]
LibraryProperties = Annotated[dict[str, Any], Shape(EntityProperties)]
PropertyTree = Annotated[dict[str, Any], Shape(GenericPropertyTree, DEFINITIONS)]
FieldValues = Annotated[list[dict[str, Any] | str], Shape(list[FieldValue | str])]
