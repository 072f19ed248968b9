"""Typed statements of the load-script language.

Expressions stay as source spans (:class:`Expr`): the expression language is parsed by
``engine.expr`` when the statement runs, after dollar expansion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.expr.lexer import Token

# re-exported: the spec lives with the readers it configures
from engine.sources.spec import FormatSpec as FormatSpec


@dataclass(frozen=True)
class Expr:
    """An expression's text and its offset in the script (or in the expanded statement).

    ``tokens``: the statement tokenizer's tokens of the text (positions in the statement, so ``pos`` +
    offsets into the text; ending with EOF) when the parser cut it out of a statement, so the expression
    parser reads them instead of scanning the text a second time; None for text made up by the runner."""

    text: str
    pos: int
    tokens: tuple[Token, ...] | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class FieldItem:
    """One item of a LOAD field list: ``*`` or an expression with its output name."""

    expr: Expr | None  # None for '*'
    name: str  # output field name ('*' for star)
    alias: bool = False  # named with AS

    @property
    def star(self) -> bool:
        return self.expr is None


@dataclass
class FileSource:
    path: str
    spec: FormatSpec


@dataclass
class InlineSource:
    data: str
    spec: FormatSpec


@dataclass
class ResidentSource:
    table: str
    order_by: list[tuple[Expr, bool]] = field(default_factory=list)  # (expr, descending)


@dataclass
class AutogenerateSource:
    count: Expr


@dataclass
class SelectSource:
    sql: str


@dataclass
class CatalogSource:
    """``SQLTables`` / ``SQLColumns`` / ``SQLTypes``: the current database connection's catalog."""

    statement: str


Source = FileSource | InlineSource | ResidentSource | AutogenerateSource | SelectSource | CatalogSource | None


@dataclass
class Prefixes:
    """Table prefixes written before LOAD/SELECT."""

    mapping: bool = False
    concatenate: bool = False
    concat_table: str | None = None
    noconcatenate: bool = False
    join: str | None = None  # 'inner' | 'left' | 'right' | 'outer'
    keep: str | None = None  # 'inner' | 'left' | 'right'
    target: str | None = None  # table named in Join(...) / Keep(...)
    crosstable: tuple[str, str, int] | None = None
    first: Expr | None = None
    sample: Expr | None = None
    intervalmatch: list[str] | None = None  # [match field, key fields...]
    hierarchy: list[str | None] | None = None
    belongs_to: list[str | None] | None = None  # HierarchyBelongsTo arguments
    generic: bool = False
    partial: str | None = None  # 'add' | 'replace' | 'merge'
    partial_only: bool = False
    semantic: bool = False
    merge_keys: list[str] = field(default_factory=list)  # MERGE ... ON keys
    merge_seq: str | None = None  # MERGE (SequenceNoField, ...)
    merge_seq_var: str | None = None  # MERGE (..., SequenceNoVar)


@dataclass
class Load:
    fields: list[FieldItem]
    source: Source
    label: str | None = None
    prefixes: Prefixes = field(default_factory=Prefixes)
    distinct: bool = False
    where: Expr | None = None
    while_: Expr | None = None
    group_by: list[Expr] = field(default_factory=list)
    is_select: bool = False


@dataclass
class SetVar:
    name: str
    value: str


@dataclass
class LetVar:
    name: str
    expr: Expr | None  # None: `LET x = ;` clears


@dataclass
class Trace:
    text: str


@dataclass
class ExitScript:
    mode: str = ""  # '' | 'when' | 'unless'
    cond: Expr | None = None


@dataclass
class ExitBlock:
    kind: str  # 'for' | 'do' | 'sub'
    mode: str = ""
    cond: Expr | None = None


@dataclass
class DropTables:
    names: list[str]


@dataclass
class DropFields:
    names: list[str]
    tables: list[str]


@dataclass
class Rename:
    what: str  # 'table' | 'field'
    pairs: list[tuple[str, str]]
    using: str | None = None


@dataclass
class Qualify:
    patterns: list[str]
    on: bool


@dataclass
class Section:
    access: bool


@dataclass
class StarIs:
    symbol: str | None


@dataclass
class Comment:
    what: str  # 'field' | 'table'
    names: list[str]
    text: Expr | None
    using: str | None = None  # COMMENT FIELDS USING map: name → comment


@dataclass
class Tag:
    names: list[str]
    tags: list[Expr]
    untag: bool = False
    using: str | None = None  # TAG FIELDS USING map: name → tag


@dataclass
class Store:
    table: str
    path: str
    fmt: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # (source, output); empty = all
    spec: FormatSpec = field(default_factory=FormatSpec)  # (txt, delimiter is ' ') and the like


@dataclass
class Connect:
    """``LIB CONNECT TO name`` (kind lib); ``CUSTOM``/``ODBC``/``OLEDB CONNECT``, plain ``CONNECT``: the text
    after the first keyword."""

    name: str
    kind: str = "lib"


@dataclass
class Disconnect:
    pass


@dataclass
class Sleep:
    ms: Expr


@dataclass
class Ignored:
    """A statement we accept and skip (reported as a warning)."""

    keyword: str


@dataclass
class AutoNumberFields:
    """``AutoNumber f1, f2 [Using ns]``: the fields' values become 1, 2, … in load order."""

    patterns: list[str]
    namespace: str | None = None


@dataclass
class NullAs:
    """``NullAsValue f, g`` (value=True) / ``NullAsNull f, g``: NULLs of later loads become NullValue."""

    patterns: list[str]
    value: bool


@dataclass
class Alias:
    """``Alias a as b, c as d``: later loads name field a as b."""

    pairs: list[tuple[str, str]]


@dataclass
class MapUsing:
    """``Map f, g Using m`` (mapping None: ``Unmap f, g``): values of later loads go through ``m``."""

    patterns: list[str]
    mapping: str | None


@dataclass
class Force:
    """``Force Case Upper|Lower|Mixed`` / ``Force Capitalization``: the case of later loaded texts."""

    mode: str  # 'upper' | 'lower' | 'mixed' | 'capitalization'


@dataclass
class Directory:
    """``Directory [path]``: the folder relative paths of later statements start from."""

    path: str | None


@dataclass
class Execute:
    command: str


@dataclass
class Binary:
    """``Binary app``: start from another app's data model (first statement only)."""

    name: str


@dataclass
class DerivedField:
    expr: Expr  # uses $1 for the source field
    name: str
    tags: list[str]


@dataclass
class Declare:
    """``name: DECLARE FIELD DEFINITION [TAGGED (...)] [PARAMETERS p = v, ...] FIELDS expr AS name [TAGGED
    (...)], ...``: a recipe of fields derived from one field."""

    name: str | None
    tags: list[str]
    parameters: list[tuple[str, Expr]]
    fields: list[DerivedField]
    using: str | None = None  # DECLARE FIELD DEFINITION USING base [WITH p = v, ...]: a copy of base


@dataclass
class Derive:
    """``DERIVE FIELDS FROM FIELDS a, b | EXPLICIT TAGS (...) | IMPLICIT TAG USING definition``."""

    fields: list[str]
    tags: list[str] | None  # EXPLICIT TAGS; [] for IMPLICIT TAG (the definition's own tags)
    definition: str


@dataclass
class Unsupported:
    """A statement of the reference this engine does not run: the reload fails naming it."""

    keyword: str


@dataclass
class Loosen:
    """``Loosen Table a, b``: the tables are loosely coupled in the data model."""

    tables: list[str]


@dataclass
class SearchRule:
    """``Search Include|Exclude fields``: which fields smart search looks in (last match wins)."""

    patterns: list[str]
    include: bool


@dataclass
class Conditional:
    """``When|Unless condition statement``: the statement runs only if the condition is true (when) or
    false (unless)."""

    mode: str  # 'when' | 'unless'
    cond: Expr
    statement: Statement


@dataclass
class Include:
    path: str
    must: bool


# control statements ---------------------------------------------------------------------------


@dataclass
class If:
    cond: Expr


@dataclass
class ElseIf:
    cond: Expr


@dataclass
class Else:
    pass


@dataclass
class EndIf:
    pass


@dataclass
class For:
    var: str
    start: Expr
    stop: Expr
    step: Expr | None = None


@dataclass
class ForEach:
    var: str
    items: list[Expr]


@dataclass
class Next:
    var: str | None = None


@dataclass
class Do:
    mode: str = ""  # '' | 'while' | 'until'
    cond: Expr | None = None


@dataclass
class Loop:
    mode: str = ""
    cond: Expr | None = None


@dataclass
class Sub:
    name: str
    params: list[str]


@dataclass
class EndSub:
    pass


@dataclass
class Call:
    name: str
    args: list[Expr]


@dataclass
class Switch:
    expr: Expr


@dataclass
class Case:
    values: list[Expr]


@dataclass
class Default:
    pass


@dataclass
class EndSwitch:
    pass


Statement = (
    Load
    | SetVar
    | LetVar
    | Trace
    | ExitScript
    | ExitBlock
    | DropTables
    | DropFields
    | Rename
    | Qualify
    | Section
    | StarIs
    | Comment
    | Tag
    | Store
    | Connect
    | Disconnect
    | Sleep
    | Ignored
    | AutoNumberFields
    | NullAs
    | Alias
    | MapUsing
    | Force
    | Directory
    | Execute
    | Binary
    | Declare
    | Derive
    | Loosen
    | SearchRule
    | Conditional
    | Unsupported
    | Include
    | If
    | ElseIf
    | Else
    | EndIf
    | For
    | ForEach
    | Next
    | Do
    | Loop
    | Sub
    | EndSub
    | Call
    | Switch
    | Case
    | Default
    | EndSwitch
)
