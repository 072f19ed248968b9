"""The Global interface (handle -1): engine facts, documents, requests in flight, reload progress."""

from __future__ import annotations

import asyncio
import platform
import uuid
from typing import Any

from engine.app import guard, store
from engine.app.app import DocSession
from engine.app.guard import AppFacts
from engine.app.reload import progress_data
from engine.app.rules import Resource
from engine.errors import APP_ALREADY_OPEN, APP_INVALID, APP_NOT_FOUND, INVALID_APP_NAME, QixError
from engine.model.selection import warm
from engine.rpc.dispatch import Call, rpc

#: the longest file name (one path component, in bytes) and whole path Linux file systems take
_NAME_MAX, _PATH_MAX = 255, 4096


def _version(call: Call) -> str:
    return call.engine.settings.engine_version


@rpc("Global", "EngineVersion", concurrent=True)
def engine_version(call: Call) -> dict[str, object]:
    return {"qVersion": {"qComponentVersion": _version(call)}}


@rpc("Global", "ProductVersion", concurrent=True)
def product_version(call: Call) -> dict[str, object]:
    return {"qReturn": _version(call)}


@rpc("Global", "QvVersion", concurrent=True)
def qv_version(call: Call) -> dict[str, object]:
    return {"qReturn": _version(call)}


@rpc("Global", "OSName", concurrent=True)
def os_name(call: Call) -> dict[str, object]:
    return {"qReturn": platform.system() or "Linux"}


@rpc("Global", "OSVersion", concurrent=True)
def os_version(call: Call) -> dict[str, object]:
    return {"qReturn": platform.release()}


@rpc("Global", "QTProduct", concurrent=True)
def qt_product(call: Call) -> dict[str, object]:
    return {"qReturn": "Qlik Sense"}


@rpc("Global", "IsDesktopMode", concurrent=True)
def is_desktop_mode(call: Call) -> dict[str, object]:
    return {"qReturn": False}


@rpc("Global", "IsPersonalMode", concurrent=True)
def is_personal_mode(call: Call) -> dict[str, object]:
    # without JWT validation the engine runs as "QlikView Personal" (user Personal\Me)
    return {"qReturn": call.engine.settings.validate_json_web_tokens == 0}


@rpc("Global", "AllowCreateApp", concurrent=True)
def allow_create_app(call: Call) -> dict[str, object]:
    identity = call.session.identity
    new_app = Resource.for_app("", owner=identity.user)
    return {"qReturn": call.engine.guard.decide(identity, new_app, guard.CREATE, call.session.policy).allowed}


@rpc("Global", "GetAuthenticatedUser", concurrent=True)
def get_authenticated_user(call: Call) -> dict[str, object]:
    identity = call.session.identity
    if not identity.authenticated:
        return {"qReturn": "UserDirectory=Personal; UserId=Me"}
    return {"qReturn": f"UserDirectory=; UserId={identity.user}"}


@rpc("Global", "GetUniqueID", concurrent=True)
def get_unique_id(call: Call) -> dict[str, object]:
    return {"qUniqueID": str(uuid.uuid4())}


@rpc("Global", "GetDefaultAppFolder", concurrent=True)
def get_default_app_folder(call: Call) -> dict[str, object]:
    return {"qPath": str(call.engine.apps.document_dir)}


@rpc("Global", "GetConfiguration", concurrent=True)
def get_configuration(call: Call) -> dict[str, object]:
    return {"qConfig": {"qFeatures": {"qIsDesktop": False}}}


@rpc("Global", "GetBNF", concurrent=True, qBnfType=0)
def get_bnf(call: Call, qBnfType: int) -> dict[str, object]:
    return {"qBnfDefs": []}


@rpc("Global", "GetCustomConnectors", concurrent=True, qReloadList=False)
def get_custom_connectors(call: Call, qReloadList: bool) -> dict[str, object]:
    return {"qConnectors": []}


@rpc("Global", "GetSupportedCodePages", concurrent=True)
def get_supported_code_pages(call: Call) -> dict[str, object]:
    pages = [
        (65001, "UTF-8", "Unicode (UTF-8)"),
        (1252, "Windows-1252", "Western European (Windows)"),
        (28591, "ISO-8859-1", "Western European (ISO)"),
        (1200, "UTF-16LE", "Unicode"),
    ]
    return {"qCodePages": [{"qNumber": n, "qName": name, "qDescription": desc} for n, name, desc in pages]}


@rpc("Global", "GetOdbcDsns", concurrent=True)
def get_odbc_dsns(call: Call) -> dict[str, object]:
    return {"qOdbcDsns": []}


@rpc("Global", "GetOleDbProviders", concurrent=True)
def get_ole_db_providers(call: Call) -> dict[str, object]:
    return {"qOleDbProviders": []}


@rpc("Global", "ReloadExtensionList", concurrent=True)
def reload_extension_list(call: Call) -> dict[str, object]:
    return {}


@rpc(
    "Global",
    "ConfigureReload",
    concurrent=True,
    qCancelOnScriptError=False,
    qUseErrorData=False,
    qInteractOnError=False,
)
def configure_reload(
    call: Call, qCancelOnScriptError: bool, qUseErrorData: bool, qInteractOnError: bool
) -> dict[str, object]:
    call.session.reload_config = {"cancel_on_error": qCancelOnScriptError, "use_error_data": qUseErrorData}
    return {}


@rpc("Global", "AbortRequest", concurrent=True, qRequestId=0)
def abort_request(call: Call, qRequestId: int) -> dict[str, object]:
    call.session.cancel(qRequestId)
    return {}


@rpc("Global", "CancelRequest", concurrent=True, qRequestId=0)
def cancel_request(call: Call, qRequestId: int) -> dict[str, object]:
    call.session.cancel(qRequestId)
    return {}


@rpc("Global", "AbortAll", concurrent=True)
def abort_all(call: Call) -> dict[str, object]:
    call.session.cancel_all()
    return {}


@rpc("Global", "CancelReload", concurrent=True, qReason="")
def cancel_reload(call: Call, qReason: str) -> dict[str, object]:
    for progress in list(call.session.reloads.values()):
        progress.cancel()
    return {}


@rpc("Global", "GetProgress", concurrent=True, qRequestId=0)
def get_progress(call: Call, qRequestId: int) -> dict[str, object]:
    reloads = call.session.reloads
    progress = reloads.get(qRequestId)
    if progress is None and qRequestId in (0, -1, None) and reloads:
        progress = list(reloads.values())[-1]  # 0: the session's latest reload
    if progress is None:
        return {"qProgressData": progress_data()}
    return {"qProgressData": progress.snapshot()}


# -- documents ---------------------------------------------------------------------------------------
def _file_system_takes(name: str) -> bool:
    """Whether ``name`` can be a document's file name or path at all: no NUL, and short enough for the file
    system (with the ``.qvf`` suffix). Others cannot name any document: asking the file system about them
    fails (ENAMETOOLONG, embedded NUL) instead of answering "no such file"."""
    if "\x00" in name:
        return False
    data = name.encode("utf-8", "surrogatepass")
    longest = _NAME_MAX - len(store.SUFFIX)
    return len(data) < _PATH_MAX and all(len(part) <= longest for part in data.split(b"/"))


def open_doc_interface(call: Call, doc: DocSession, *, report: bool = True) -> dict[str, object]:
    """The Doc handle of the session (stable within the session); OpenDoc reports it in ``change``."""
    session = call.session
    handles = session.handles_of(doc)
    if handles:
        if report:
            call.change.add(handles[0])
        return {"qType": "Doc", "qHandle": handles[0], "qGenericId": doc.app.app_id}
    return call.object_interface("Doc", doc, generic_id=doc.app.app_id, report_change=True)


def attach_doc(call: Call, app: Any, no_data: bool = False, doc: DocSession | None = None) -> DocSession:
    """Make ``app`` the session's active document (one per session, as in the engine)."""
    session = call.session
    current = session.active_doc
    if current is not None:
        if current.app is app:
            current.user_access()
            return current
        raise QixError(APP_ALREADY_OPEN, current.app.app_id)
    doc = doc or DocSession(app, session.identity, no_data=no_data)
    doc.user_access()  # section access: 12002 without JWTs, 5 when denied; before anything is handed out
    call.engine.apps.hold(app)
    session.active_doc = doc
    return doc


@rpc("Global", "CreateSessionApp")
def create_session_app(call: Call) -> dict[str, object]:
    app = call.engine.apps.create_session_app()
    doc = attach_doc(call, app)
    return {"qReturn": open_doc_interface(call, doc), "qSessionAppId": app.app_id}


@rpc("Global", "GetActiveDoc")
def get_active_doc(call: Call) -> dict[str, object]:
    session = call.session
    doc = session.active_doc
    if doc is None and session.route.session_app_id:
        app = call.engine.apps.create_session_app(session.route.session_app_id)
        doc = attach_doc(call, app)
    if doc is None:
        raise QixError(APP_INVALID, "No active document")
    doc.user_access()
    return {"qReturn": open_doc_interface(call, doc, report=False)}


@rpc("Global", "OpenDoc", qDocName="", qUserName="", qPassword="", qSerial="", qNoData=False)
async def open_doc(
    call: Call, qDocName: str, qUserName: str, qPassword: str, qSerial: str, qNoData: bool
) -> dict[str, object]:
    session = call.session
    current = session.active_doc
    if current is not None and qDocName in (current.app.app_id, current.app.app_id + ".qvf"):
        current.user_access()
        return {"qReturn": open_doc_interface(call, current)}
    if not _file_system_takes(qDocName):
        raise QixError(APP_NOT_FOUND, qDocName[:_NAME_MAX])
    await asyncio.to_thread(_check_app, call, qDocName, guard.READ)
    app = await asyncio.to_thread(call.engine.apps.open, qDocName, not qNoData)
    if app.data_loaded:
        warm(app.model)  # the key lookups of large tables are ready by the user's first click
    doc = DocSession(app, session.identity, no_data=qNoData)
    await asyncio.to_thread(doc.user_access)  # a new reduction costs about one selection: off the loop
    doc = attach_doc(call, app, no_data=qNoData, doc=doc)
    return {"qReturn": open_doc_interface(call, doc)}


@rpc("Global", "CreateApp", qAppName="", qLocalizedScriptMainSection="", qLocale="")
async def create_app(
    call: Call, qAppName: str, qLocalizedScriptMainSection: str, qLocale: str
) -> dict[str, object]:
    if not _file_system_takes(qAppName):
        raise QixError(INVALID_APP_NAME, qAppName[:_NAME_MAX])
    app_id = await asyncio.to_thread(call.engine.apps.create_app, qAppName, call.session.identity.user)
    return {"qSuccess": True, "qAppId": app_id}


def _check_app(call: Call, name: str, action: str) -> AppFacts:
    """The app-level access check (``engine.app.guard``) on an app named by id or file name."""
    facts = call.engine.apps.facts(name)
    call.engine.guard.check(call.session.identity, facts, action, user=call.session.policy)
    return facts


@rpc("Global", "DeleteApp", qAppId="")
async def delete_app(call: Call, qAppId: str) -> dict[str, object]:
    if not _file_system_takes(qAppId):
        return {"qSuccess": False}
    try:
        facts = await asyncio.to_thread(_check_app, call, qAppId, guard.DELETE)
    except QixError as err:
        if err.code == APP_NOT_FOUND:
            return {"qSuccess": False}
        raise
    return {"qSuccess": await asyncio.to_thread(call.engine.apps.delete, facts.app_id)}


@rpc("Global", "GetDocList")
async def get_doc_list(call: Call) -> dict[str, object]:
    return {"qDocList": await asyncio.to_thread(call.engine.apps.doc_list)}


@rpc("Global", "CreateSessionAppFromApp", qSrcAppId="")
async def create_session_app_from_app(call: Call, qSrcAppId: str) -> dict[str, object]:
    if not _file_system_takes(qSrcAppId):
        raise QixError(APP_NOT_FOUND, qSrcAppId[:_NAME_MAX])
    # the copy keeps the source's section access, so its reduction and ADMIN-only script follow it
    await asyncio.to_thread(_check_app, call, qSrcAppId, guard.READ)
    source = await asyncio.to_thread(call.engine.apps.open, qSrcAppId, True)
    app = call.engine.apps.create_session_app()
    app.copy_from(source)
    doc = attach_doc(call, app)
    return {"qReturn": open_doc_interface(call, doc), "qSessionAppId": app.app_id}
