"""The Field interface: a field of the session's view of an app."""

from __future__ import annotations

from engine.rpc.dispatch import Call, rpc


@rpc("Field", "GetCardinal")
def get_cardinal(call: Call) -> dict:
    ref = call.target
    field = ref.doc.model.fields.get(ref.name)
    return {"qReturn": field.cardinal if field is not None else 0}
