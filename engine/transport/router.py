"""Method + path pattern → async handler, for the plain HTTP requests on the WebSocket port.

Patterns are literal segments and ``{name}`` (one segment, percent-decoded into ``request.params``); a last
``{name:path}`` takes the rest of the path, slashes included. Segments are split before they are decoded,
so an id holding an encoded ``/`` stays one segment. A trailing slash is ignored (``/healthcheck/`` is
``/healthcheck``). A path that matches with another method is a 405 (with ``Allow``), no match a 404; a GET
route answers HEAD too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from engine.transport.http import Request, Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    auth: bool  # False: served without a token even when JWT validation is on (health checks)
    segments: tuple[str, ...]
    max_body: int | None = None  # bytes of request body this route takes; None = MaxRestBodySize

    def bind(self, parts: list[str]) -> dict[str, str] | None:
        """The route's parameters when ``parts`` (the path's raw segments) match, else None."""
        params: dict[str, str] = {}
        segments = self.segments
        for i, seg in enumerate(segments):
            if seg.startswith("{") and seg.endswith(":path}"):
                if i >= len(parts):
                    return None
                params[seg[1:-6]] = unquote("/".join(parts[i:]))
                return params
            if i >= len(parts):
                return None
            if seg.startswith("{"):
                params[seg[1:-1]] = unquote(parts[i])
            elif seg != parts[i]:
                return None
        return params if len(parts) == len(segments) else None


@dataclass(frozen=True)
class Match:
    """A path that exists: ``route`` is None when none of its routes takes the method (then 405, and
    ``allowed`` lists the methods that it has)."""

    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...]


class Router:
    """The HTTP routes of one server. Register with :meth:`add` or the :meth:`route` decorator."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, Route]] = {}  # literal path → method → route
        self._patterns: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, auth: bool = True,
            max_body: int | None = None) -> Route:
        """Serve ``method`` on ``pattern`` with ``handler``. ``auth=False`` serves it without a token;
        ``max_body`` lowers (or raises) the body limit for this route."""
        method = method.upper()
        if not pattern.startswith("/"):
            raise ValueError(f"a route pattern starts with '/': {pattern!r}")
        segments = tuple(s for s in pattern.split("/") if s)
        for i, seg in enumerate(segments):
            if seg.startswith("{") != seg.endswith("}") or (seg.endswith(":path}") and i != len(segments) - 1):
                raise ValueError(f"bad route segment {seg!r} in {pattern!r}")
        route = Route(method, pattern, handler, auth, segments, max_body)
        if any(seg.startswith("{") for seg in segments):
            if any(r.method == method and _shape(r.segments) == _shape(segments) for r in self._patterns):
                raise ValueError(f"{method} {pattern} is registered already")
            self._patterns.append(route)
        else:
            by_method = self._static.setdefault(_normal(pattern), {})
            if method in by_method:
                raise ValueError(f"{method} {pattern} is registered already")
            by_method[method] = route
        return route

    def route(self, method: str, pattern: str, *, auth: bool = True,
              max_body: int | None = None) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler, auth=auth, max_body=max_body)
            return handler

        return register

    def match(self, method: str, path: str) -> Match | None:
        """The route for ``method`` on ``path`` (raw, without the query string); None when no route has
        that path. A literal route wins over a pattern that also matches; HEAD is served by GET's route
        (the connection sends the head of the answer only)."""
        found = self._match(method, path)
        if method == "HEAD" and found is not None and found.route is None and "GET" in found.allowed:
            return self._match("GET", path)
        return found

    def _match(self, method: str, path: str) -> Match | None:
        allowed: set[str] = set()
        by_method = self._static.get(_normal(path))
        if by_method is not None:
            route = by_method.get(method)
            if route is not None:
                return Match(route, {}, ())
            allowed.update(by_method)
        if self._patterns:
            parts = [s for s in path.split("/") if s]
            for route in self._patterns:
                params = route.bind(parts)
                if params is None:
                    continue
                if route.method == method:
                    return Match(route, params, ())
                allowed.add(route.method)
        return Match(None, {}, tuple(sorted(allowed))) if allowed else None

    def routes(self) -> list[Route]:
        return [r for by_method in self._static.values() for r in by_method.values()] + list(self._patterns)


def _shape(segments: tuple[str, ...]) -> tuple[str, ...]:
    """Segments with parameter names blanked: two patterns of one shape match the same paths."""
    return tuple(("{:path}" if s.endswith(":path}") else "{}") if s.startswith("{") else s for s in segments)


def _normal(path: str) -> str:
    return path.rstrip("/") or "/"
