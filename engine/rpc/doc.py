"""The Doc interface: one session's view of an app (script, reload, save, data model, connections)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from engine.app import connections, guard
from engine.app.app import DEFAULT_SCRIPT, FieldRef
from engine.app.calccache import compute_in_thread, in_thread_then
from engine.app.reload import ReloadJob, binary_loader, reload_app
from engine.calc import search, tables
from engine.errors import CONNECTION_ALREADY_EXISTS, CONNECTION_NOT_FOUND, QixError
from engine.expr import ExprSyntaxError, fields_of, parse_expression
from engine.rpc.dispatch import Call, rpc
from engine.rpc.structs import Connection, ReloadParams, SearchCombinationOptions, SearchPage, Size
from engine.script.syntax import check_syntax
from engine.sources.web import WebOptions

#: how many finished reloads a session keeps for GetProgress
_KEEP_RELOADS = 16


@rpc("Doc", "GetAppLayout")
def get_app_layout(call: Call) -> dict[str, object]:
    call.session.mark_read(call.handle)
    return {"qLayout": call.target.app_layout()}


@rpc("Doc", "GetAppProperties")
def get_app_properties(call: Call) -> dict[str, object]:
    call.session.mark_read(call.handle)
    return {"qProp": call.target.app.app_properties()}


@rpc("Doc", "SetAppProperties", qProp={})
def set_app_properties(call: Call, qProp: dict[str, Any]) -> dict[str, object]:
    _require(call, guard.UPDATE)
    call.target.app.set_app_properties(qProp)
    call.shared_change = True
    return {}


@rpc("Doc", "ClearUndoBuffer")
def clear_undo_buffer(call: Call) -> dict[str, object]:
    """The engine keeps no undo history of layout changes (no Undo/Redo), so there is nothing to clear;
    nebula.js charts call this after migrating their properties and expect success."""
    return {}


@rpc("Doc", "GetLocaleInfo")
def get_locale_info(call: Call) -> dict[str, object]:
    return {"qReturn": call.target.locale_info}


@rpc("Doc", "GetEmptyScript", qLocalizedMainSection="")
def get_empty_script(call: Call, qLocalizedMainSection: str) -> dict[str, object]:
    main = f"///$tab {qLocalizedMainSection or 'Main'}\n"
    return {"qReturn": main + DEFAULT_SCRIPT}


# -- script and reload ------------------------------------------------------------------------------------
def _require(call: Call, action: str, *, script: bool = False) -> None:
    """The app-level access check (``engine.app.guard``) for this session's user on this document."""
    call.engine.guard.check(call.session.identity, call.target.app.facts(), action, script=script)


@rpc("Doc", "GetScript")
def get_script(call: Call) -> dict[str, object]:
    _require(call, guard.READ, script=True)
    return {"qScript": call.target.app.script}


@rpc("Doc", "SetScript", qScript="")
def set_script(call: Call, qScript: str) -> dict[str, object]:
    _require(call, guard.UPDATE)
    call.target.app.script = qScript
    return {}


@rpc("Doc", "CheckScriptSyntax")
def check_script_syntax(call: Call) -> dict[str, object]:
    _require(call, guard.READ, script=True)
    return {"qErrors": [e.to_json() for e in check_syntax(call.target.app.script)]}


async def _reload(call: Call, partial: bool = False) -> bool:
    doc = call.target
    _require(call, guard.RELOAD)
    job = ReloadJob()
    reloads = call.session.reloads
    reloads[call.request.id] = job
    while len(reloads) > _KEEP_RELOADS:
        reloads.pop(next(iter(reloads)))
    settings = call.engine.settings
    try:
        ok = await asyncio.shield(
            asyncio.to_thread(
                reload_app,
                doc.app,
                job,
                settings.document_directory,
                settings.script_max_rows,
                legacy_paths=not settings.standard_reload,
                folder_roots=settings.folder_roots,
                web=WebOptions.from_settings(settings),
                partial=partial,
                binary=binary_loader(call.engine.apps, call.engine.guard, call.session.identity),
                approve=call.engine.guard.script_variables(call),
            )
        )
    except asyncio.CancelledError:
        job.cancel()  # AbortRequest/CancelRequest on the DoReload: stop the runner, keep the old model
        raise
    if ok:
        call.shared_change = True
    return ok


@rpc("Doc", "DoReload", qMode=0, qPartial=False, qDebug=False)
async def do_reload(call: Call, qMode: int, qPartial: bool, qDebug: bool) -> dict[str, object]:
    return {"qReturn": await _reload(call, bool(qPartial))}


@rpc("Doc", "DoReloadEx", qParams={})
async def do_reload_ex(call: Call, qParams: ReloadParams) -> dict[str, object]:
    ok = await _reload(call, bool(qParams.get("qPartial", False)))
    return {"qResult": {"qSuccess": ok, "qScriptLogFile": "", "qEndedWithMemoryConstraint": False}}


@rpc("Doc", "DoSave", qFileName="")
async def do_save(call: Call, qFileName: str) -> dict[str, object]:
    _require(call, guard.UPDATE)
    app = call.target.app
    with app.lock:
        # objects change on the event loop: snapshot them here, write in a worker thread
        document = None if app.is_session_app else app.to_document()
    await asyncio.to_thread(app.save, document)
    return {}


# -- the data model -----------------------------------------------------------------------------------
def _same(answer: dict[str, object]) -> dict[str, object]:
    return answer


@rpc(
    "Doc",
    "GetTablesAndKeys",
    qWindowSize={},
    qNullSize={},
    qCellHeight=0,
    qSyntheticMode=False,
    qIncludeSysVars=False,
    qIncludeProfiling=False,
)
def get_tables_and_keys(
    call: Call,
    qWindowSize: Size,
    qNullSize: Size,
    qCellHeight: int,
    qSyntheticMode: bool,
    qIncludeSysVars: bool,
    qIncludeProfiling: bool,
) -> Awaitable[dict[str, object]]:
    """In a worker: the key statistics read every row of every table (0.2-0.5 s at 10M rows)."""
    model = call.target.model
    return in_thread_then(lambda: tables.tables_and_keys(model, qSyntheticMode, qIncludeSysVars), _same)


@rpc("Doc", "GetTableData", qOffset=0, qRows=0, qSyntheticMode=False, qTableName="")
async def get_table_data(
    call: Call, qOffset: int, qRows: int, qSyntheticMode: bool, qTableName: str
) -> dict[str, object]:
    model = call.target.model
    return {"qData": await asyncio.to_thread(tables.table_data, model, qTableName, qOffset, qRows)}


@rpc("Doc", "GetFieldDescription", qFieldName="")
def get_field_description(call: Call, qFieldName: str) -> Awaitable[dict[str, object]]:
    """In a worker, as GetTablesAndKeys (a field's statistics read its columns)."""
    model = call.target.model
    return in_thread_then(lambda: tables.field_description(model, qFieldName), lambda d: {"qReturn": d})


@rpc("Doc", "GetField", qFieldName="", qStateName="")
def get_field(call: Call, qFieldName: str, qStateName: str) -> dict[str, object]:
    doc = call.target
    if qFieldName not in doc.model.fields:
        raise QixError(2, qFieldName)
    ref = FieldRef(doc, qFieldName, qStateName or "$")
    return {"qReturn": call.object_interface("Field", ref, generic_id=qFieldName)}


# -- connections --------------------------------------------------------------------------------------
def _connection(call: Call, conn_id: str) -> dict[str, Any]:
    conn: dict[str, Any] | None = call.target.app.connections.get(conn_id)
    if conn is None:
        raise QixError(CONNECTION_NOT_FOUND, conn_id)
    return conn


def _store_connection(call: Call, spec: Connection, conn_id: str | None) -> dict[str, Any]:
    """Check and store a new or changed connection (an update of the app); names stay unique."""
    _require(call, guard.UPDATE)
    conn = connections.normalise(spec, conn_id)
    existing = call.target.app.connections
    if any(c["qName"] == conn["qName"] and c["qId"] != conn["qId"] for c in existing.values()):
        raise QixError(CONNECTION_ALREADY_EXISTS, conn["qName"])
    connections.check_folder(conn, call.engine.settings.folder_roots)
    existing[conn["qId"]] = conn
    return conn


def _may_see_secrets(call: Call) -> bool:
    return call.engine.guard.allows(call.session.identity, call.target.app.facts(), guard.UPDATE)


@rpc("Doc", "CreateConnection", qConnection={})
def create_connection(call: Call, qConnection: Connection) -> dict[str, object]:
    return {"qConnectionId": _store_connection(call, qConnection, None)["qId"]}


@rpc("Doc", "GetConnections")
def get_connections(call: Call) -> dict[str, object]:
    full = _may_see_secrets(call)
    return {"qConnections": [connections.public_view(c, full) for c in call.target.app.connections.values()]}


@rpc("Doc", "GetConnection", qConnectionId="")
def get_connection(call: Call, qConnectionId: str) -> dict[str, object]:
    return {"qConnection": connections.public_view(_connection(call, qConnectionId), _may_see_secrets(call))}


@rpc("Doc", "ModifyConnection", qConnectionId="", qConnection={}, qOverrideCredentials=False)
def modify_connection(
    call: Call, qConnectionId: str, qConnection: Connection, qOverrideCredentials: bool
) -> dict[str, object]:
    _require(call, guard.UPDATE)
    before = _connection(call, qConnectionId)
    if not qOverrideCredentials:  # the stored user name and password stay unless the call overrides them
        qConnection = qConnection.copy()
        if "qUserName" in before:
            qConnection["qUserName"] = before["qUserName"]
        if "qPassword" in before:
            qConnection["qPassword"] = before["qPassword"]
    _store_connection(call, qConnection, qConnectionId)
    return {}


@rpc("Doc", "DeleteConnection", qConnectionId="")
def delete_connection(call: Call, qConnectionId: str) -> dict[str, object]:
    _require(call, guard.UPDATE)
    _connection(call, qConnectionId)
    del call.target.app.connections[qConnectionId]
    return {}


# -- selections and expressions -------------------------------------------------------------------------
@rpc("Doc", "ClearAll", qLockedAlso=False, qStateName="")
def clear_all(call: Call, qLockedAlso: bool, qStateName: str) -> dict[str, object]:
    call.target.selections.clear_all(qStateName or "$", locked_also=qLockedAlso)
    return {}


@rpc("Doc", "LockAll", qStateName="")
def lock_all(call: Call, qStateName: str) -> dict[str, object]:
    sel = call.target.selections
    sel.set(qStateName or "$", sel.state(qStateName or "$").locked_all())
    return {}


@rpc("Doc", "UnlockAll", qStateName="")
def unlock_all(call: Call, qStateName: str) -> dict[str, object]:
    sel = call.target.selections
    sel.set(qStateName or "$", sel.state(qStateName or "$").unlocked_all())
    return {}


@rpc("Doc", "AbortModal", qAccept=False)
def abort_modal(call: Call, qAccept: bool) -> dict[str, object]:
    """End the selection mode of whichever object is in one (clients call it when BeginSelections answers
    6003 because another object is), keeping its selections when ``qAccept``."""
    call.target.abort_selection_mode(qAccept)
    return {}


@rpc("Doc", "Back")
def back(call: Call) -> dict[str, object]:
    call.target.selections.back("$")
    return {}


@rpc("Doc", "Forward")
def forward(call: Call) -> dict[str, object]:
    call.target.selections.forward("$")
    return {}


def _evaluate(call: Call, expression: str) -> tuple[str | None, float]:
    try:
        value: tuple[str | None, float] = call.target.evaluate(expression)
        return value
    except ExprSyntaxError as err:
        return f"Error in expression: {err}", float("nan")
    except QixError as err:
        return f"Error: {err.parameter or err.message}", float("nan")


@rpc("Doc", "Evaluate", qExpression="")
async def evaluate(call: Call, qExpression: str) -> dict[str, object]:
    text, _num = await compute_in_thread(lambda: _evaluate(call, qExpression))
    return {"qReturn": "-" if text is None else text}


@rpc("Doc", "EvaluateEx", qExpression="")
async def evaluate_ex(call: Call, qExpression: str) -> dict[str, object]:
    text, num = await compute_in_thread(lambda: _evaluate(call, qExpression))
    numeric = num == num
    return {
        "qValue": {
            "qText": "-" if text is None else text,
            "qIsNumeric": numeric,
            "qNumber": num if numeric else "NaN",
        }
    }


def _check(call: Call, expression: str) -> dict[str, object]:
    model = call.target.model
    try:
        node = parse_expression(expression)
    except ExprSyntaxError as err:
        return {"qErrorMsg": str(err), "qBadFieldNames": [], "qDangerousFieldNames": []}
    bad = []
    for name in sorted(fields_of(node)):
        if name not in model.fields and call.target.variable_text(name) is None:
            start = expression.find(name)
            bad.append({"qFrom": max(start, 0), "qCount": len(name)})
    return {
        "qErrorMsg": "Bad field name(s)" if bad else "",
        "qBadFieldNames": bad,
        "qDangerousFieldNames": [],
    }


@rpc("Doc", "CheckExpression", qExpr="", qLabels=[])
def check_expression(call: Call, qExpr: str, qLabels: list[str]) -> dict[str, object]:
    return _check(call, qExpr)


@rpc("Doc", "CheckNumberOrExpression", qExpr="")
def check_number_or_expression(call: Call, qExpr: str) -> dict[str, object]:
    try:
        float(qExpr)
    except ValueError:
        result = _check(call, qExpr)
        return {"qErrorMsg": result["qErrorMsg"], "qBadFieldNames": result["qBadFieldNames"]}
    return {"qErrorMsg": "", "qBadFieldNames": []}


def _result(result: dict[str, object]) -> dict[str, object]:
    return {"qResult": result}


@rpc("Doc", "SearchResults", qOptions={}, qTerms=[], qPage={})
def search_results(
    call: Call, qOptions: SearchCombinationOptions, qTerms: list[str], qPage: SearchPage
) -> Awaitable[dict[str, object]]:
    """Searched in a worker: every value of every searched field is read."""
    doc = call.target

    def found() -> dict[str, object]:
        return search.search_results(
            doc.model,
            doc.inference("$"),
            list(qOptions.get("qSearchFields") or []),
            [str(t) for t in qTerms],
            offset=int(qPage.get("qOffset", 0)),
            count=int(qPage.get("qCount", 10)),
            max_matches=int(qPage.get("qMaxNbrFieldMatches", 5)),
        )

    return in_thread_then(found, _result)


@rpc("Doc", "SearchSuggest", qOptions={}, qTerms=[])
def search_suggest(
    call: Call, qOptions: SearchCombinationOptions, qTerms: list[str]
) -> Awaitable[dict[str, object]]:
    """Searched in a worker, as SearchResults."""
    doc = call.target
    fields = list(qOptions.get("qSearchFields") or [])
    terms = [str(t) for t in qTerms]
    return in_thread_then(lambda: search.search_suggestions(doc.model, doc.inference("$"), fields, terms), _result)
