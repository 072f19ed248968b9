"""The one table of what each QIX method and REST endpoint needs: (resource kind, action) and where the
resource comes from.

Every method the engine registers is classified here (a test walks the registry), so a new method
without an entry is noticed instead of silently unchecked. An empty tuple means "no check": version and
environment queries, progress and abort, and selections, which live in the session's own state and
change nothing another user sees (opening the app already required ``read``).

A :class:`Permission` names the resource by its :class:`Source`:

* ``HANDLE``: what the handle stands for. A Doc handle: its app; a GenericObject, GenericDimension,
  GenericMeasure, GenericBookmark or GenericVariable handle: that object (``_objecttype`` from the
  object: its ``qInfo.qType``, or ``dimension`` / ``measure`` / ``bookmark`` / ``variable``); a Field
  handle: an object of type ``field`` whose id is the field name.
* ``PARAM``: the resource the parameter ``param`` names: an app id (Global methods, REST ``{id}``) or an
  object id in the handle's app, of type ``objecttype`` when the method fixes it (``GetDimension``).
* ``NEW``: the resource being created. An App (named by ``param`` when given), or an App.Object of type
  ``objecttype``, or, when that is None, of the type in the ``qInfo.qType`` of the properties in
  ``param``. Its owner is the caller.
* ``ACTIVE``: the session's active app.
* ``EACH``: each resource of that kind the call lists or changes; a listing leaves out those not
  allowed, a change needs all of them.

``unless`` names a boolean parameter that makes the call session-only when true (``ApplyPatches`` with
``qSoftPatch``): then there is nothing to check. Connections are part of the app, so creating, changing
or deleting one is ``update`` of the app.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from engine.app.rules import (
    APP,
    APP_OBJECT,
    CREATE,
    DELETE,
    EXPORT,
    EXPORT_DATA,
    IMPORT,
    READ,
    RELOAD,
    UPDATE,
)


class Source(enum.Enum):
    HANDLE = "handle"
    PARAM = "param"
    NEW = "new"
    ACTIVE = "active"
    EACH = "each"


@dataclass(frozen=True, slots=True)
class Permission:
    """One check a call needs: ``action`` on the ``kind`` resource found through ``source``."""

    kind: str  # rules.APP or rules.APP_OBJECT
    action: str  # one of rules.ACTIONS
    source: Source = Source.HANDLE
    param: str | None = None
    objecttype: str | None = None
    unless: str | None = None


Checks = tuple[Permission, ...]
NO_CHECK: Checks = ()


def _app(action: str, source: Source = Source.HANDLE, param: str | None = None) -> Checks:
    return (Permission(APP, action, source, param),)


def _obj(action: str, source: Source = Source.HANDLE, param: str | None = None, objecttype: str | None = None,
         unless: str | None = None) -> Checks:
    return (Permission(APP_OBJECT, action, source, param, objecttype, unless),)


_HANDLE_READ = _obj(READ)
_HANDLE_UPDATE = _obj(UPDATE)
_SOFT_PATCHES = _obj(UPDATE, unless="qSoftPatch")

_GLOBAL: dict[str, Checks] = {
    # about the engine and the session, not about any app
    **dict.fromkeys((
        "EngineVersion", "ProductVersion", "QvVersion", "OSName", "OSVersion", "QTProduct", "IsDesktopMode",
        "IsPersonalMode", "GetAuthenticatedUser", "GetUniqueID", "GetDefaultAppFolder", "GetConfiguration",
        "GetBNF", "GetCustomConnectors", "GetSupportedCodePages", "GetOdbcDsns", "GetOleDbProviders",
        "ReloadExtensionList", "ConfigureReload", "AbortRequest", "CancelRequest", "AbortAll", "CancelReload",
        "GetProgress",
        # answers whether the caller may create an app: itself a question to the policy, not a use of an app
        "AllowCreateApp",
    ), NO_CHECK),
    "OpenDoc": _app(READ, Source.PARAM, "qDocName"),
    "GetActiveDoc": _app(READ, Source.ACTIVE),
    "GetDocList": _app(READ, Source.EACH),
    "GetAppEntry": _app(READ, Source.PARAM, "qAppID"),
    "CreateApp": _app(CREATE, Source.NEW, "qAppName"),
    "CreateDocEx": _app(CREATE, Source.NEW, "qDocName"),
    "CreateSessionApp": _app(CREATE, Source.NEW),
    "CreateSessionAppFromApp": (Permission(APP, READ, Source.PARAM, "qSrcAppId"),
                                Permission(APP, CREATE, Source.NEW)),
    "DeleteApp": _app(DELETE, Source.PARAM, "qAppId"),
}

_DOC: dict[str, Checks] = {
    # the app as a whole
    **dict.fromkeys(("GetAppLayout", "GetAppProperties", "GetLocaleInfo", "GetScript", "CheckScriptSyntax",
                     "GetTablesAndKeys", "GetConnections", "GetConnection", "Evaluate", "EvaluateEx",
                     "CheckExpression", "CheckNumberOrExpression", "SearchResults", "SearchSuggest",
                     "GetMediaList"), _app(READ)),
    # a template for a new script, and the (empty) undo history: nothing of the app is read or changed
    **dict.fromkeys(("GetEmptyScript", "ClearUndoBuffer"), NO_CHECK),
    **dict.fromkeys(("SetAppProperties", "SetScript", "DoSave", "SaveObjects", "CreateConnection",
                     "ModifyConnection", "DeleteConnection", "AddAlternateState", "RemoveAlternateState"),
                    _app(UPDATE)),
    **dict.fromkeys(("DoReload", "DoReloadEx"), _app(RELOAD)),
    # rows of the data model's tables, as they are: exporting data, not reading a visualization
    "GetTableData": _app(EXPORT_DATA),
    # selections, selection mode and session states: the session's own state
    **dict.fromkeys(("ClearAll", "LockAll", "UnlockAll", "Back", "Forward", "AddSessionAlternateState",
                     "RemoveSessionAlternateState", "AbortModal"), NO_CHECK),
    # fields are objects of type "field" named by the field name
    "GetField": _obj(READ, Source.PARAM, "qFieldName", "field"),
    "GetFieldDescription": _obj(READ, Source.PARAM, "qFieldName", "field"),
    # generic objects
    "CreateObject": _obj(CREATE, Source.NEW, "qProp"),
    "CreateSessionObject": _obj(CREATE, Source.NEW, "qProp"),
    "GetObject": _obj(READ, Source.PARAM, "qId"),
    "GetObjects": _obj(READ, Source.EACH),
    "GetAllInfos": _obj(READ, Source.EACH),
    "DestroyObject": _obj(DELETE, Source.PARAM, "qId"),
    "DestroySessionObject": _obj(DELETE, Source.PARAM, "qId"),
    # variables
    "CreateVariableEx": _obj(CREATE, Source.NEW, "qProp", "variable"),
    "CreateSessionVariable": _obj(CREATE, Source.NEW, "qProp", "variable"),
    "CreateVariable": _obj(CREATE, Source.NEW, "qName", "variable"),
    "GetVariableById": _obj(READ, Source.PARAM, "qId", "variable"),
    "GetVariableByName": _obj(READ, Source.PARAM, "qName", "variable"),
    "DestroyVariableById": _obj(DELETE, Source.PARAM, "qId", "variable"),
    "DestroyVariableByName": _obj(DELETE, Source.PARAM, "qName", "variable"),
    "DestroySessionVariable": _obj(DELETE, Source.PARAM, "qId", "variable"),
    # master dimensions and measures, bookmarks
    "CreateDimension": _obj(CREATE, Source.NEW, "qProp", "dimension"),
    "GetDimension": _obj(READ, Source.PARAM, "qId", "dimension"),
    "DestroyDimension": _obj(DELETE, Source.PARAM, "qId", "dimension"),
    "CreateMeasure": _obj(CREATE, Source.NEW, "qProp", "measure"),
    "GetMeasure": _obj(READ, Source.PARAM, "qId", "measure"),
    "DestroyMeasure": _obj(DELETE, Source.PARAM, "qId", "measure"),
    "CreateBookmark": _obj(CREATE, Source.NEW, "qProp", "bookmark"),
    "GetBookmark": _obj(READ, Source.PARAM, "qId", "bookmark"),
    "DestroyBookmark": _obj(DELETE, Source.PARAM, "qId", "bookmark"),
    # applying a bookmark reads it into the session's selections
    "ApplyBookmark": _obj(READ, Source.PARAM, "qId", "bookmark"),
}

_FIELD: dict[str, Checks] = {
    **dict.fromkeys(("GetCardinal", "GetAndMode", "GetNxProperties"), _obj(READ, objecttype="field")),
    **dict.fromkeys(("SetAndMode", "SetNxProperties"), _obj(UPDATE, objecttype="field")),
    **dict.fromkeys(("Select", "ToggleSelect", "SelectValues", "LowLevelSelect", "SelectAll", "SelectPossible",
                     "SelectExcluded", "SelectAlternative", "ClearAllButThis", "Clear", "Lock", "Unlock"),
                    NO_CHECK),
}

#: what GenericDimension, GenericMeasure, GenericBookmark and GenericVariable handles share
_ENTITY: dict[str, Checks] = {
    **dict.fromkeys(("GetLayout", "GetProperties", "GetInfo", "GetLinkedObjects"), _HANDLE_READ),
    "SetProperties": _HANDLE_UPDATE,
    "ApplyPatches": _SOFT_PATCHES,
}

_OBJECT: dict[str, Checks] = {
    **dict.fromkeys(("GetLayout", "GetProperties", "GetEffectiveProperties", "GetInfo", "GetLinkedObjects",
                     "GetChildInfos", "GetParent", "GetFullPropertyTree", "GetHyperCubeData",
                     "GetListObjectData", "GetHyperCubePivotData", "GetHyperCubeStackData",
                     "GetHyperCubeReducedData", "GetHyperCubeTreeData"), _HANDLE_READ),
    "GetChild": _obj(READ, Source.PARAM, "qId"),
    **dict.fromkeys(("SetProperties", "SetFullPropertyTree", "CopyFrom"), _HANDLE_UPDATE),
    "ApplyPatches": _SOFT_PATCHES,
    "CreateChild": _obj(CREATE, Source.NEW, "qProp"),
    "DestroyChild": _obj(DELETE, Source.PARAM, "qId"),
    "DestroyAllChildren": _obj(DELETE, Source.EACH),
    "ExportData": _obj(EXPORT_DATA),
    # selections through an object, searches in its list object: the session's own state
    **dict.fromkeys(("SelectPivotCells", "SelectHyperCubeValues", "SelectHyperCubeCells",
                     "RangeSelectHyperCubeValues", "SelectListObjectValues", "SelectListObjectAll",
                     "SelectListObjectPossible", "SelectListObjectExcluded", "SelectListObjectAlternative",
                     "SearchListObjectFor", "AcceptListObjectSearch", "AbortListObjectSearch", "ClearSelections",
                     "Lock", "Unlock", "BeginSelections", "EndSelections", "ResetMadeSelections"), NO_CHECK),
}

#: (qType, method) -> the checks a call needs; an empty tuple means none.
QIX: Mapping[tuple[str, str], Checks] = {
    **{("Global", m): c for m, c in _GLOBAL.items()},
    **{("Doc", m): c for m, c in _DOC.items()},
    **{("Field", m): c for m, c in _FIELD.items()},
    **{("GenericObject", m): c for m, c in _OBJECT.items()},
    **{(qtype, m): c for qtype in ("GenericDimension", "GenericMeasure", "GenericBookmark", "GenericVariable")
       for m, c in _ENTITY.items()},
    ("GenericDimension", "GetDimension"): _HANDLE_READ,
    ("GenericMeasure", "GetMeasure"): _HANDLE_READ,
    ("GenericBookmark", "Apply"): _HANDLE_READ,
    ("GenericVariable", "GetRawContent"): _HANDLE_READ,
    **{("GenericVariable", m): _HANDLE_UPDATE for m in ("SetStringValue", "SetNumValue", "SetDualValue")},
}


class Unclassified(KeyError):
    """A method or endpoint with no entry: callers must refuse it rather than let it through."""


def for_method(qtype: str, method: str) -> Checks:
    """The checks of a QIX call (``qtype`` and ``method`` as registered). Raises Unclassified."""
    try:
        return QIX[(qtype, method)]
    except KeyError:
        raise Unclassified(f"{qtype}.{method}") from None


# --------------------------------------------------------------------------------------------------------
# REST
# --------------------------------------------------------------------------------------------------------

#: (HTTP method, path pattern) -> checks. ``{id}`` is one path segment (the app id, for Source.PARAM with
#: param "id"); ``{path}`` is the rest of the path. Deleting or replacing an app's media file changes
#: the app: ``update``.
REST: Mapping[tuple[str, str], Checks] = {
    ("GET", "/v1/apps/privileges"): NO_CHECK,  # reports the caller's privileges: asks the policy itself
    ("POST", "/v1/apps/import"): _app(IMPORT, Source.NEW),
    ("GET", "/v1/apps/{id}"): _app(READ, Source.PARAM, "id"),
    ("PUT", "/v1/apps/{id}"): _app(UPDATE, Source.PARAM, "id"),
    ("DELETE", "/v1/apps/{id}"): _app(DELETE, Source.PARAM, "id"),
    ("POST", "/v1/apps/{id}/copy"): (Permission(APP, READ, Source.PARAM, "id"), Permission(APP, CREATE, Source.NEW)),
    ("GET", "/v1/apps/{id}/export"): _app(EXPORT, Source.PARAM, "id"),
    ("GET", "/v1/apps/{id}/data/metadata"): _app(READ, Source.PARAM, "id"),
    ("GET", "/v1/apps/{id}/media/list"): _app(READ, Source.PARAM, "id"),
    ("GET", "/v1/apps/{id}/media/list/{path}"): _app(READ, Source.PARAM, "id"),
    ("GET", "/v1/apps/{id}/media/thumbnail"): _app(READ, Source.PARAM, "id"),
    ("GET", "/v1/apps/{id}/media/files/{path}"): _app(READ, Source.PARAM, "id"),
    ("PUT", "/v1/apps/{id}/media/files/{path}"): _app(UPDATE, Source.PARAM, "id"),
    ("POST", "/v1/apps/{id}/media/files/{path}"): _app(UPDATE, Source.PARAM, "id"),
    ("DELETE", "/v1/apps/{id}/media/files/{path}"): _app(UPDATE, Source.PARAM, "id"),
}


@dataclass(frozen=True, slots=True)
class RestMatch:
    pattern: str
    checks: Checks
    params: Mapping[str, str]


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _match(pattern: list[str], path: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, seg in enumerate(pattern):
        if seg == "{path}":
            if i >= len(path):
                return None
            params["path"] = "/".join(path[i:])
            return params
        if i >= len(path):
            return None
        if seg.startswith("{"):
            params[seg[1:-1]] = path[i]
        elif seg != path[i]:
            return None
    return params if len(pattern) == len(path) else None


#: patterns with more literal segments first, so /v1/apps/privileges wins over /v1/apps/{id}
_REST_ORDER = sorted(REST.items(), key=lambda item: (-sum(not s.startswith("{") for s in _segments(item[0][1])),
                                                      item[0][1]))


def for_endpoint(method: str, path: str) -> RestMatch | None:
    """The checks of a REST request (path without the query), or None for a path this table does not
    know (not an app endpoint: health, metrics). Raises Unclassified for a known path with a method it
    does not list.
    """
    segs = _segments(path)
    known_path = False
    for (verb, pattern), checks in _REST_ORDER:
        params = _match(_segments(pattern), segs)
        if params is None:
            continue
        if verb == method.upper():
            return RestMatch(pattern, checks, params)
        known_path = True
    if known_path:
        raise Unclassified(f"{method.upper()} {path}")
    return None
