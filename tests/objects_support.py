"""Helpers shared by the generic-object tests: opening docs, installing a small data model in an app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from engine.model.datamodel import DataModel, TableData
from engine.model.symbols import encode
from tests.harness import Client, RpcError, RunningEngine


async def session_doc(client: Client) -> int:
    """Create a session app and return its Doc handle."""
    return (await client.call("CreateSessionApp"))["qReturn"]["qHandle"]


async def loaded_session_doc(client: Client, script: str) -> int:
    """Create a session app, reload it with ``script`` (which must succeed) and return its Doc handle."""
    doc = await session_doc(client)
    await client.call("SetScript", doc, script)
    assert (await client.call("DoReload", doc))["qReturn"] is True
    return doc


def on_session_doc(
    engine: RunningEngine, scenario: Callable[[Client, int], Awaitable[None]], script: str | None = None
) -> None:
    """Run ``scenario(client, doc)`` on a new session app of ``engine`` (reloaded with ``script`` if one is
    given): the set-up most socket tests share."""

    async def main() -> None:
        async with Client.open(engine.url()) as c:
            doc = await session_doc(c) if script is None else await loaded_session_doc(c, script)
            await scenario(c, doc)

    asyncio.run(main())


async def create(client: Client, doc: int, props: dict, method: str = "CreateObject") -> tuple[int, str]:
    """Create an object (or entity) and return (handle, id)."""
    result = await client.call(method, doc, props)
    oi = result["qReturn"]
    return oi["qHandle"], oi["qGenericId"]


async def layout(client: Client, handle: int) -> dict:
    return (await client.call("GetLayout", handle))["qLayout"]


async def props_of(client: Client, handle: int) -> dict:
    return (await client.call("GetProperties", handle))["qProp"]


def _column(values: list[Any]) -> tuple[Any, np.ndarray]:
    num = np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=np.float64)
    text = np.array([v if isinstance(v, str) else str(v) for v in values], dtype=object)
    return encode(num, text)


def demo_model() -> DataModel:
    """Two tables linked by ``Key``: Dim (3 distinct text values), Value numbers, a hidden field."""
    t1 = TableData("Facts", {"Key": _column([1, 2, 3, 1]), "Value": _column([10, 20, 30, 40])}, 4)
    t2 = TableData("Names", {"Key": _column([1, 2, 3]), "Dim": _column(["alpha", "b", "c"]),
                             "Hidden": _column(["h1", "h2", "h3"])}, 3)
    model = DataModel.build([t1, t2])
    model.fields["Hidden"].is_hidden = True
    return model


def install_data(engine: RunningEngine, variables: dict[str, str] | None = None) -> None:
    """Swap the demo model into every loaded app (as a reload would), with script variables."""

    def swap() -> None:
        for session in engine.engine.sessions.sessions.values():
            if session.active_doc is not None:
                session.active_doc.app.swap_data(demo_model(), None, dict(variables or {}))

    engine.call_soon(swap)


async def expect_error(client: Client, method: str, handle: int, *params: Any) -> RpcError:
    try:
        await client.call(method, handle, *params)
    except RpcError as err:
        return err
    raise AssertionError(f"{method} did not fail")
