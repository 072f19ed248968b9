"""Method registry per interface (``qType``) and parameter binding with the schema's defaults.

Each QIX interface module registers its methods with :func:`rpc`. A handler receives a :class:`Call`
(who is calling, on which handle, and ways to report handles) and its parameters as keywords, already
bound from positional or named ``params`` with ``null``/missing values replaced by the defaults, and
checked against the handler's annotations (:mod:`engine.rpc.validate`, compiled once at registration):
a value of the wrong type is answered -32602 naming the parameter, and never reaches the handler.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from engine.errors import INVALID_PARAMS, METHOD_NOT_FOUND, QixError
from engine.rpc.protocol import Params, Request, RequestId
from engine.rpc.validate import MAX_DEPTH, Checker, Mismatch, compile_hint, hints_of, is_bounded, too_deep

if TYPE_CHECKING:
    from engine.app.abac import UserPolicy
    from engine.app.app import DocSession
    from engine.app.reload import ReloadJob
    from engine.auth import Identity
    from engine.server import Engine
    from engine.session import Route, Socket


class SessionLike(Protocol):
    """What a handler may use of the transport session (``engine.session.Session``)."""

    engine: Engine
    identity: Identity
    active_doc: DocSession | None
    route: Route
    #: the user's document rules, made when the session starts
    policy: UserPolicy
    #: the session's recent reloads by request id (GetProgress reads them)
    reloads: dict[RequestId, ReloadJob]
    reload_config: dict[str, bool]

    def new_handle(self, qtype: str, target: object) -> int: ...
    def handles_of(self, target: object) -> list[int]: ...
    def drop_target(self, target: object) -> list[int]: ...
    def mark_read(self, handle: int) -> object: ...
    def cancel(self, request_id: RequestId) -> None: ...
    def cancel_all(self) -> None: ...
    def peers(self) -> Sequence[SessionLike]: ...
    def push(self, change: list[int], close: list[int], exclude: Socket | None = None) -> None: ...


@dataclass(slots=True)
class Call:
    """One request being served: the session, the handle's target, and the change/close lists."""

    session: SessionLike
    request: Request
    #: the handle's object; its type is the method's interface's (DocSession for Doc, EntityView for
    #: GenericObject, ...), which the registry guarantees and each interface module relies on
    target: Any
    handle: int
    socket: Socket | None = None
    change: set[int] = field(default_factory=set)
    close: set[int] = field(default_factory=set)
    #: set when the call changed state other sessions on the same app can see (reload, saved objects)
    shared_change: bool = False

    @property
    def engine(self) -> Engine:
        return self.session.engine

    def object_interface(
        self,
        qtype: str,
        target: object,
        generic_id: str | None = None,
        generic_type: str | None = None,
        *,
        report_change: bool = False,
    ) -> dict[str, object]:
        """Hand out a new handle for ``target`` and build the ``qReturn`` object interface."""
        handle = self.session.new_handle(qtype, target)
        if report_change:
            self.change.add(handle)
        oi: dict[str, object] = {"qType": qtype, "qHandle": handle}
        if qtype not in ("Doc", "Field", "Variable"):
            oi["qGenericType"] = generic_type
        oi["qGenericId"] = generic_id if generic_id is not None else ""
        return oi

    def changed(self, target: object) -> None:
        """Report every handle of ``target`` in this response's ``change`` list."""
        self.change.update(self.session.handles_of(target))

    def closed(self, target: object) -> None:
        """Release every handle of ``target`` and report them in ``close``."""
        self.close.update(self.session.drop_target(target))


NOT_FOUND_INTERFACE = {"qType": None, "qHandle": None}


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter: its name, the schema default, its type and its compiled check."""

    name: str
    default: Any
    hint: Any
    check: Checker
    #: the check itself keeps values shallow (scalars, arrays of them): no depth walk
    bounded: bool
    #: the default is a container: each call gets its own copy, so handlers never share one
    fresh: bool


@dataclass(frozen=True)
class MethodSpec:
    qtype: str
    name: str
    fn: Callable[..., Answer]
    params: tuple[Param, ...]
    #: may run while the session is busy with another request (progress, abort, version queries)
    concurrent: bool
    #: changes nothing (layouts, data pages): runs beside the session's other reads (``Session.submit``)
    read: bool = False


REGISTRY: dict[str, dict[str, MethodSpec]] = {}


#: what a handler returns: its result object, or an awaitable of it when it has to wait
Answer: TypeAlias = dict[str, object] | Awaitable[dict[str, object]]
_Handler = TypeVar("_Handler", bound=Callable[..., Answer])


def rpc(
    qtype: str, name: str, *, concurrent: bool = False, read: bool = False, **params: Any
) -> Callable[[_Handler], _Handler]:
    """Register ``fn`` as method ``name`` of interface ``qtype``; ``params`` are the schema defaults, in
    schema order. Each parameter's type is the handler's annotation for it (the default's type when it
    has none); a parameter with neither, or a default its own type refuses, is an error here, at import."""

    def register(fn: _Handler) -> _Handler:
        REGISTRY.setdefault(qtype, {})[name] = MethodSpec(
            qtype, name, fn, _params(fn, params), concurrent, read
        )
        return fn

    return register


def _params(fn: Callable[..., Any], defaults: dict[str, Any]) -> tuple[Param, ...]:
    hints = hints_of(fn)
    out = []
    for pname, default in defaults.items():
        if pname not in hints and default is None:
            raise TypeError(f"{fn.__qualname__}: parameter {pname} has neither a type nor a default")
        hint = hints.get(pname, type(default))
        check = compile_hint(hint)
        if default is not None:
            try:
                check(default)
            except Mismatch as bad:
                raise TypeError(f"{fn.__qualname__}: default {bad.describe(pname)}") from None
        out.append(Param(pname, default, hint, check, is_bounded(hint), isinstance(default, dict | list)))
    return tuple(out)


def is_method(name: str) -> bool:
    """Whether any interface has a method ``name`` (metric labels stay a bounded set)."""
    return any(name in methods for methods in REGISTRY.values())


def lookup(qtype: str, method: str) -> MethodSpec:
    methods = REGISTRY.get(qtype, {})
    spec = methods.get(method)
    if spec is None:
        # clients send PascalCase; be lenient on the first letter's case
        spec = methods.get(method[:1].upper() + method[1:])
    if spec is None:
        raise QixError(METHOD_NOT_FOUND, method)
    return spec


def bind(spec: MethodSpec, params: Params, shallow: bool = False) -> dict[str, Any]:
    """Positional or named params → checked keyword arguments, defaults for missing or ``null`` values.
    Extra positional values and unknown names are ignored (enigma.js sends what its schema knows).
    ``shallow``: the frame cannot nest deep enough to need the depth check (``Request.shallow``)."""
    out: dict[str, Any] = {}
    if isinstance(params, list):
        given = len(params)
        for i, param in enumerate(spec.params):
            value = params[i] if i < given else None
            out[param.name] = _default(param) if value is None else _check(param, value, shallow)
    else:
        named = params or {}
        for param in spec.params:
            value = named.get(param.name)
            out[param.name] = _default(param) if value is None else _check(param, value, shallow)
    return out


def _check(param: Param, value: Any, shallow: bool) -> Any:
    if not (shallow or param.bounded) and (type(value) is dict or type(value) is list) and too_deep(value):
        raise QixError(INVALID_PARAMS, f"{param.name}: nested deeper than {MAX_DEPTH} levels")
    try:
        return param.check(value)
    except Mismatch as bad:
        raise QixError(INVALID_PARAMS, bad.describe(param.name)) from None


def _default(param: Param) -> Any:
    return copy.deepcopy(param.default) if param.fresh else param.default
