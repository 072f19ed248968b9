"""Test harness: a real engine on a free loopback port, and a small QIX client over real sockets.

The engine runs in a background thread with its own event loop (fast to start); tests that need a real
process (signals, exit codes) start ``python -m engine`` instead (see :func:`spawn_engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import ipaddress
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from engine.auth import Authenticator
from engine.settings import parse_args

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningEngine:
    """An engine serving on 127.0.0.1 in a background thread."""

    def __init__(self, *settings: str, document_dir: Path, port: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        from engine import server as server_module

        self.port = port or free_port()
        argv = ["--host", "127.0.0.1", "--port", str(self.port), *extra_args,
                "-S", f"DocumentDirectory={document_dir}", "-S", "PrometheusPort=0"]
        for s in settings:
            argv += ["-S", s]
        self.settings = parse_args(argv)
        self.engine = server_module.Engine(self.settings, Authenticator(self.settings))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, args=(server_module,), daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("engine did not start")

    def _run(self, server_module: Any) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            self._server = await server_module.start(self.engine)
            self._ready.set()

        self._loop.run_until_complete(boot())
        self._loop.run_forever()

    def url(self, path: str = "/app/engineData", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def call_soon(self, fn: Any, *args: Any) -> Any:
        """Run ``fn`` on the engine's loop and wait for its result (to inspect engine state safely)."""
        done = threading.Event()
        box: list[Any] = []

        def wrapper() -> None:
            box.append(fn(*args))
            done.set()

        self._loop.call_soon_threadsafe(wrapper)
        done.wait(10)
        return box[0]

    def stop(self) -> None:
        if not self._loop.is_running():  # stopped already (a test may stop it before the fixture does)
            return

        async def shutdown() -> None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self.engine.metrics.close()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('code')} {error.get('message')}: {error.get('parameter')}")
        self.code = error.get("code")
        self.parameter = error.get("parameter")
        self.message = error.get("message")


class Client:
    """A QIX client over one WebSocket: ids, pushes, notifications. Use ``async with Client.open(...)``."""

    #: send every :meth:`call` with ``delta: true`` and apply the answer's patches as enigma.js does (its
    #: default); ``tests/conftest.py`` runs the layout tests both ways by setting it
    delta_calls: bool = False

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._delta_cache: dict[tuple[Any, str], Any] = {}
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future] = {}
        self.pushes: list[dict] = []  # id-less frames (change/close)
        self.notifications: list[dict] = []
        self.frames: list[dict] = []
        self._pushed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, headers: dict[str, str] | None = None, **kwargs: Any):
        async with connect(url, additional_headers=headers or {}, max_size=None, **kwargs) as ws:
            client = cls(ws)
            try:
                yield client
            finally:
                client._reader.cancel()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = orjson.loads(raw)
                self.frames.append(msg)
                if msg.get("close"):
                    gone = set(msg["close"])
                    for key in [k for k in self._delta_cache if k[0] in gone]:
                        del self._delta_cache[key]
                if "id" in msg and msg["id"] in self._pending:
                    fut = self._pending.pop(msg["id"])
                    if not fut.done():
                        fut.set_result(msg)
                elif "method" in msg:
                    self.notifications.append(msg)
                    self._pushed.set()
                else:
                    self.pushes.append(msg)
                    self._pushed.set()
        except Exception:
            pass
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("socket closed"))

    async def wait_notification(self, method: str = "OnConnected", timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for n in self.notifications:
                if n["method"] == method:
                    return n
            self._pushed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(method)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pushed.wait(), remaining)

    async def wait_push(self, timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while not self.pushes:
            self._pushed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no push")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pushed.wait(), remaining)
        return self.pushes.pop(0)

    async def send_raw(self, payload: dict | str | bytes, request_id: Any = None) -> dict:
        fut = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        await self.ws.send(payload if isinstance(payload, str | bytes) else orjson.dumps(payload).decode())
        return await asyncio.wait_for(fut, 30)

    async def request(self, method: str, handle: int = -1, params: Any = None, *, delta: bool | None = None,
                      request_id: Any = None) -> dict:
        """Send and return the whole response frame (result or error)."""
        rid = next(self._ids) if request_id is None else request_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method, "handle": handle,
                               "params": [] if params is None else params}
        if delta is not None:
            msg["delta"] = delta
        return await self.send_raw(msg, rid)

    async def call(self, method: str, handle: int = -1, *params: Any, **named: Any) -> dict:
        """Send and return ``result``; raise :class:`RpcError` on an error answer."""
        resp = await self.request(method, handle, named if named else list(params),
                                  delta=True if self.delta_calls else None)
        if "error" in resp:
            raise RpcError(resp["error"])
        if resp.get("delta"):
            result = resp["result"]
            return {key: self._patched(handle, method, key, patches) for key, patches in result.items()}
        return resp["result"]

    def _patched(self, handle: int, method: str, key: str, patches: Any) -> Any:
        """enigma.js's delta interceptor: patches apply to the value cached per (handle, method, key)."""
        assert isinstance(patches, list), f"{method}.{key}: expected an array of patches, got {patches!r}"
        cache_key = (handle, f"{method}-{key}")
        value = apply_patches(self._delta_cache.get(cache_key), patches)
        self._delta_cache[cache_key] = value
        return copy.deepcopy(value)


def apply_patches(value: Any, patches: list[dict]) -> Any:
    """JSON patches the way enigma.js applies them: a root add/replace sets the whole value; other paths
    are split on "/" (no ~0/~1 decoding), numeric segments index arrays."""
    for patch in patches:
        op, path = patch["op"], patch["path"]
        if path == "/":
            assert op in ("add", "replace") and patch["value"] is not None, patch
            value = copy.deepcopy(patch["value"])
            continue
        *parents, last = path.lstrip("/").split("/")
        node = value
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        index: Any = (len(node) if last == "-" else int(last)) if isinstance(node, list) else last
        if op == "remove":
            del node[index]
        elif op == "add" and isinstance(node, list):
            node.insert(index, copy.deepcopy(patch["value"]))
        else:
            assert op in ("add", "replace"), patch
            node[index] = copy.deepcopy(patch["value"])
    return value


def spawn_engine(*args: str, env: dict | None = None, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """Start ``python -m engine`` as a real process (on ``port``, else a free one); returns it and its port
    once it listens."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited {proc.returncode}: {proc.stderr.read().decode()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return proc, port
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("engine did not listen in time")


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (it is its own CA, so clients can trust exactly it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
