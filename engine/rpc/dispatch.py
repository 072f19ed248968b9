"""Method registry per interface (``qType``) and parameter binding with the schema's defaults.

Each QIX interface module registers its methods with :func:`rpc`. A handler receives a :class:`Call`
(who is calling, on which handle, and ways to report handles) and its parameters as keywords, already
bound from positional or named ``params`` with ``null``/missing values replaced by the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import INVALID_PARAMS, METHOD_NOT_FOUND, QixError
from engine.rpc.protocol import Request


class SessionLike(Protocol):
    """What a handler may use of the transport session (``engine.session.Session``)."""

    engine: Any
    identity: Any
    active_doc: Any

    def new_handle(self, qtype: str, target: Any) -> int: ...
    def handles_of(self, target: Any) -> list[int]: ...
    def drop_target(self, target: Any) -> list[int]: ...


@dataclass(slots=True)
class Call:
    """One request being served: the session, the handle's target, and the change/close lists."""

    session: SessionLike
    request: Request
    target: Any
    handle: int
    socket: Any = None
    change: set[int] = field(default_factory=set)
    close: set[int] = field(default_factory=set)
    #: set when the call changed state other sessions on the same app can see (reload, saved objects)
    shared_change: bool = False

    @property
    def engine(self) -> Any:
        return self.session.engine

    def object_interface(self, qtype: str, target: Any, generic_id: str | None = None,
                         generic_type: str | None = None, *, report_change: bool = False) -> dict:
        """Hand out a new handle for ``target`` and build the ``qReturn`` object interface."""
        handle = self.session.new_handle(qtype, target)
        if report_change:
            self.change.add(handle)
        oi: dict[str, Any] = {"qType": qtype, "qHandle": handle}
        if qtype not in ("Doc", "Field", "Variable"):
            oi["qGenericType"] = generic_type
        oi["qGenericId"] = generic_id if generic_id is not None else ""
        return oi

    def changed(self, target: Any) -> None:
        """Report every handle of ``target`` in this response's ``change`` list."""
        self.change.update(self.session.handles_of(target))

    def closed(self, target: Any) -> None:
        """Release every handle of ``target`` and report them in ``close``."""
        self.close.update(self.session.drop_target(target))


NOT_FOUND_INTERFACE = {"qType": None, "qHandle": None}


@dataclass(frozen=True)
class MethodSpec:
    qtype: str
    name: str
    fn: Callable[..., Any]
    params: tuple[tuple[str, Any], ...]
    #: may run while the session is busy with another request (progress, abort, version queries)
    concurrent: bool


REGISTRY: dict[str, dict[str, MethodSpec]] = {}


def rpc(qtype: str, name: str, *, concurrent: bool = False, **params: Any) -> Callable:
    """Register ``fn`` as method ``name`` of interface ``qtype``; ``params`` are the schema defaults."""

    def register(fn: Callable) -> Callable:
        REGISTRY.setdefault(qtype, {})[name] = MethodSpec(
            qtype, name, fn, tuple(params.items()), concurrent)
        return fn

    return register


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


def _coerce(value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return bool(value)
    if isinstance(default, int) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise QixError(INVALID_PARAMS, f"Expected a number, got {value!r}") from None
    if isinstance(default, str) and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def bind(spec: MethodSpec, params: list | dict | None) -> dict[str, Any]:
    """Positional or named params → keyword arguments, defaults for missing or ``null`` values."""
    out: dict[str, Any] = {}
    if isinstance(params, list):
        for i, (pname, default) in enumerate(spec.params):
            value = params[i] if i < len(params) else None
            out[pname] = _default(default) if value is None else _coerce(value, default)
    else:
        given = params or {}
        for pname, default in spec.params:
            value = given.get(pname)
            out[pname] = _default(default) if value is None else _coerce(value, default)
    return out


def _default(default: Any) -> Any:
    # fresh containers so handlers can never share a mutable default
    if isinstance(default, dict | list):
        import copy

        return copy.deepcopy(default)
    return default
