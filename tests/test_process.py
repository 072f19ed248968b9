"""The engine as a real process: graceful shutdown on SIGTERM/SIGINT, structured log lines."""

from __future__ import annotations

import asyncio
import signal
import time

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.harness import spawn_engine


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_closes_with_1001(tmp_path, sig):
    proc, port = spawn_engine("-S", f"DocumentDirectory={tmp_path}", "-S", "PrometheusPort=0")
    try:
        async def scenario():
            async with connect(f"ws://127.0.0.1:{port}/app/engineData") as ws:
                assert orjson.loads(await ws.recv())["method"] == "OnConnected"
                proc.send_signal(sig)
                with pytest.raises(ConnectionClosed) as info:
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                assert info.value.rcvd.code == 1001

        started = time.monotonic()
        asyncio.run(scenario())
        assert proc.wait(5) == 0
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [orjson.loads(line) for line in proc.stdout.read().decode().splitlines() if line.startswith("{")]
    events = [line.get("event") for line in lines]
    assert "listening" in events and "session_created" in events and "shutdown" in events
    ended = next(line for line in lines if line.get("event") == "session_ended")
    assert {"reason", "duration", "calls", "user"} <= set(ended)
