"""The one exception type that crosses layers: ``QixError(code, parameter)``.

It lives in a leaf module (not in ``rpc/``) because the app, script and calc layers raise it too and
must not import from the layer to their left. ``rpc.protocol`` turns it into the JSON-RPC error object.
"""

from __future__ import annotations

#: Canonical messages of the engine's ``LocalizedErrorCode`` values that we emit.
MESSAGES: dict[int, str] = {
    -128: "Internal error",
    -1: "Unknown error",
    1: "Resource not set",
    2: "Resource not found",
    3: "Resource already exists",
    4: "Invalid path",
    5: "Access denied",
    6: "Out of memory",
    7: "Not initialized",
    8: "Invalid parameters",
    9: "Empty parameters",
    10: "Internal error",
    11: "Corrupt data",
    15: "Request aborted",
    17: "Unsupported in product version",
    19: "Memory limit reached",
    20: "Not implemented",
    1000: "App already exists",
    1001: "Invalid app name",
    1002: "App already open",
    1003: "App not found",
    1007: "App invalid",
    2000: "Connection already exists",
    2001: "Connection not found",
    3000: "File access denied",
    3001: "Invalid file name",
    3003: "File not found",
    3006: "Table not found",
    4000: "User access denied",
    6000: "Invalid hypercube object",
    6001: "Result too large",
    6003: "Another object is in selection mode",
    7005: "Calculation condition unfulfilled",
    7009: "Calculation pages too large",
    9001: "Persistence write failed",
    9003: "Resource not found",
    9009: "Persistence not supported for session app",
    11000: "Reload in progress",
    11001: "Script error",
    12002: "Section access detected when opening an app in QlikView Personal.",
    -32600: "Invalid JSON request",
    -32601: "Method does not exist",
    -32602: "Invalid method parameter(s)",
    -32603: "Internal JSON-RPC error",
    -32700: "JSON parse error",
}

# Named codes used across the code base.
INTERNAL = -128
NOT_FOUND = 2
ALREADY_EXISTS = 3
ACCESS_DENIED = 5
INVALID_PARAMETERS = 8
ABORTED = 15
APP_ALREADY_EXISTS = 1000
INVALID_APP_NAME = 1001
APP_ALREADY_OPEN = 1002
APP_NOT_FOUND = 1003
APP_INVALID = 1007
CONNECTION_ALREADY_EXISTS = 2000
CONNECTION_NOT_FOUND = 2001
FILE_NOT_FOUND = 3003
MODAL_OBJECT = 6003
CALC_CONDITION_UNMET = 7005
PAGES_TOO_LARGE = 7009
PERSISTENCE_WRITE_FAILED = 9001
SESSION_APP_NOT_PERSISTED = 9009
RELOAD_IN_PROGRESS = 11000
PERSONAL_SECTION_ACCESS = 12002
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
PARSE_ERROR = -32700


class QixError(Exception):
    """An engine error answered as ``{"code", "parameter", "message"}``."""

    def __init__(self, code: int, parameter: str = "", message: str | None = None) -> None:
        self.code = code
        self.parameter = parameter
        self.message = message if message is not None else MESSAGES.get(code, "Unknown error")
        super().__init__(f"{self.code} {self.message}: {self.parameter}")

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "parameter": self.parameter, "message": self.message}
