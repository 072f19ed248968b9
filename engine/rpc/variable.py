"""The GenericVariable interface."""

from __future__ import annotations

from engine.rpc.dispatch import Call, rpc


@rpc("GenericVariable", "GetLayout")
def get_layout(call: Call) -> dict:
    call.session.mark_read(call.handle)
    return {"qLayout": call.target.layout()}


@rpc("GenericVariable", "GetProperties")
def get_properties(call: Call) -> dict:
    return {"qProp": call.target.properties()}


@rpc("GenericVariable", "GetInfo")
def get_info(call: Call) -> dict:
    return {"qInfo": call.target.properties()["qInfo"]}
