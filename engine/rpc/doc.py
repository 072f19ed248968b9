"""The Doc interface: one session's view of an app."""

from __future__ import annotations

from engine.app.app import DEFAULT_SCRIPT
from engine.rpc.dispatch import Call, rpc


@rpc("Doc", "GetAppLayout")
def get_app_layout(call: Call) -> dict:
    call.session.mark_read(call.handle)
    return {"qLayout": call.target.app_layout()}


@rpc("Doc", "GetAppProperties")
def get_app_properties(call: Call) -> dict:
    call.session.mark_read(call.handle)
    return {"qProp": call.target.app.app_properties()}


@rpc("Doc", "SetAppProperties", qProp={})
def set_app_properties(call: Call, qProp: dict) -> dict:
    call.target.app.set_app_properties(qProp)
    call.shared_change = True
    return {}


@rpc("Doc", "GetLocaleInfo")
def get_locale_info(call: Call) -> dict:
    return {"qReturn": call.target.locale_info}


@rpc("Doc", "GetEmptyScript", qLocalizedMainSection="")
def get_empty_script(call: Call, qLocalizedMainSection: str) -> dict:
    main = f"///$tab {qLocalizedMainSection or 'Main'}\n"
    return {"qReturn": main + DEFAULT_SCRIPT}
