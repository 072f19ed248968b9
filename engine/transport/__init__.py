"""The engine's port (9076): HTTP/1.1 and WebSockets on one listening socket, on plain asyncio.

``listener`` accepts connections; ``connection`` reads each request head with h11 and either serves it
through the ``router`` (plain HTTP: health checks, the REST API) or hands the connection to websockets'
sans-I/O protocol (``websocket``). ``http`` holds what a handler sees and returns.

Registering an HTTP endpoint::

    from engine.transport import HttpError, Request, Response

    async def get_app(request: Request) -> Response:
        app_id = request.params["app_id"]  # decoded from the path
        user = request.identity             # who the JWT says (routes are authenticated by default)
        if app_id not in known:
            raise HttpError(404, "no such app")
        return Response.json({"attributes": {"id": app_id}})

    engine.router.add("GET", "/v1/apps/{app_id}", get_app)
"""

from engine.transport.http import Body, Headers, HttpError, Request, Response
from engine.transport.options import Options
from engine.transport.router import Handler, Router

__all__ = ["Body", "Handler", "Headers", "HttpError", "Options", "Request", "Response", "Router"]
