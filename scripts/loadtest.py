"""Load test for a QIX engine (this one or a real ``qlikcore/engine``): many simulated users over WebSockets.

Each user connects with its own JWT (``sub`` = ``<prefix><n>``; without ``--secret``/``--key``, with the
identity ``/identity/<prefix><n>`` in the URL instead), opens an app (``--app``) or builds a
session app from a load script (``--script``; a small built-in script when neither is given; with both, the
script is loaded into the app once before the run), then loops:

* ``full`` scenario: create a list object and a hypercube, select a random value, read the list and a random
  hypercube page, clear now and then, with think time between steps;
* ``light`` scenario: one small session object, then one ``GetLayout`` per think time (the "idle dashboard"
  load: many sessions, one small call each per second).

Examples::

    python scripts/loadtest.py --url ws://127.0.0.1:9076 --users 200 --duration 60 --ramp-up 20 --secret passw0rd
    python scripts/loadtest.py --users 1000 --scenario light --think 1 --workers 2 --secret passw0rd \\
        --metrics-url http://127.0.0.1:9090/metrics --json

With ``--reconnect`` a user whose socket is lost (an engine behind a proxy died or drained) connects again,
reopens its app and goes on; the summary counts reconnects and how long they took, and the users that
could not continue.

Prints a live status line while running and a summary table at the end (``--json``: one JSON document).
Exit status: 0 when every request and handshake succeeded, 1 otherwise, 2 for bad options.
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/loadtest.py``, this directory heads sys.path and its token.py would shadow the
# standard library's ``token`` module (see scripts/token.py); drop that entry before other imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import itertools  # noqa: E402
import multiprocessing  # noqa: E402
import queue  # noqa: E402
import random  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.errors import SecurityWarning  # noqa: E402
from joserfc.jwk import ECKey, OctKey, RSAKey  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import InvalidStatus  # noqa: E402

BUILTIN_SCRIPT = """
Orders:
Load RecNo() as OrderId, Mod(RecNo(), 200) as CustomerId,
     Pick(Mod(RecNo(), 4) + 1, 'North', 'South', 'East', 'West') as Region,
     Mod(RecNo() * 7, 1000) / 10 as Amount
AutoGenerate 20000;
Customers:
Load RecNo() - 1 as CustomerId, 'Customer ' & (RecNo() - 1) as Customer,
     Pick(Mod(RecNo(), 3) + 1, 'Gold', 'Silver', 'Bronze') as Tier
AutoGenerate 200;
"""
BUILTIN_FIELDS = ("Region", "Tier")
BUILTIN_MEASURE = "Sum(Amount)"
STATUS_EVERY = 0.5  # seconds between live status updates


class UsageError(Exception):
    """A bad combination of options: one line on stderr, exit 2."""


class RpcFailure(Exception):
    """A request that did not succeed; ``label`` is how the summary counts it (an error code or a cause)."""

    def __init__(self, label: str, detail: str = "") -> None:
        super().__init__(f"{label} {detail}".strip())
        self.label = label


# ---------------------------------------------------------------------------------------------- config

@dataclass(frozen=True)
class Config:
    """Everything a worker needs; plain data so it crosses process boundaries."""

    url: str
    users: int
    duration: float
    ramp_up: float
    think: float
    scenario: str
    max_requests: int  # 0 = unbounded
    timeout: float
    user_prefix: str
    groups: tuple[str, ...]
    token_alg: str | None  # None = no Authorization header
    token_key: str | None  # HMAC secret or PEM private key text
    app: str | None
    script: str | None
    fields: tuple[str, ...]
    measure: str | None
    seed: int
    insecure: bool = False  # wss:// without certificate checks (self-signed test engines)
    reconnect: bool = False  # a lost socket is reconnected (through a proxy: to another engine)

    def connect_options(self) -> dict[str, Any]:
        """What every ``connect`` of the run passes: no compression (as the engine's default), no size cap,
        and for ``--insecure`` a TLS context that accepts any certificate."""
        options: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": self.timeout}
        if self.insecure and self.url.startswith("wss:"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            options["ssl"] = context
        return options


def mint_token(cfg: Config, sub: str) -> str | None:
    """A JWT for ``sub`` signed as configured (HS* with the secret, RS*/ES* with the private key)."""
    if cfg.token_alg is None:
        return None
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "name": sub, "iat": now, "exp": now + int(cfg.duration) + 3600}
    if cfg.groups:
        claims["groups"] = list(cfg.groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # short test secrets are the user's choice
        return jwt.encode({"alg": cfg.token_alg, "typ": "JWT"}, claims, _signing_key(cfg.token_alg, cfg.token_key))


@functools.cache
def _signing_key(alg: str, material: str) -> OctKey | RSAKey | ECKey:
    """Parse the key once per process (RSA parsing costs milliseconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        if alg.startswith("HS"):
            return OctKey.import_key(material.encode())
        return RSAKey.import_key(material) if alg.startswith("RS") else ECKey.import_key(material)


# ---------------------------------------------------------------------------------------------- stats

@dataclass
class Stats:
    """What one worker measured. Latencies are kept raw (seconds) so percentiles are exact when merged."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)  # label -> count
    method_errors: Counter = field(default_factory=Counter)  # method -> count
    refused: Counter = field(default_factory=Counter)  # handshake refusals by cause
    handshakes: int = 0
    connected: int = 0
    users_done: int = 0
    #: --reconnect: seconds from a lost socket to the app open again, per reconnect
    reconnects: list[float] = field(default_factory=list)
    users_failed: int = 0  # users that stopped on an error before the run ended

    @property
    def requests(self) -> int:
        return sum(len(v) for k, v in self.latencies.items() if k != "(handshake)")

    def live(self) -> dict[str, int]:
        return {"requests": self.requests, "errors": sum(self.errors.values()) + sum(self.refused.values()),
                "connected": self.connected, "handshakes": self.handshakes}

    def merge(self, other: dict[str, Any]) -> None:
        for method, values in other["latencies"].items():
            self.latencies.setdefault(method, []).extend(values)
        self.errors.update(other["errors"])
        self.method_errors.update(other["method_errors"])
        self.refused.update(other["refused"])
        self.handshakes += other["handshakes"]
        self.users_done += other["users_done"]
        self.reconnects.extend(other["reconnects"])
        self.users_failed += other["users_failed"]


# ---------------------------------------------------------------------------------------------- one user

class QixSocket:
    """A minimal QIX JSON-RPC client over one WebSocket that times every call into ``stats``."""

    def __init__(self, ws: Any, stats: Stats, timeout: float) -> None:
        self.ws = ws
        self.stats = stats
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                msg = orjson.loads(raw)
                fut = self._pending.pop(msg.get("id"), None) if "id" in msg else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RpcFailure("closed", "socket closed"))

    async def call(self, method: str, handle: int, *params: Any) -> dict:
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        started = time.perf_counter()
        try:
            await self.ws.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                             "handle": handle, "params": list(params)}))
            msg = await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            self._fail(method, "timeout")
            raise RpcFailure("timeout") from None
        except RpcFailure as err:
            self._fail(method, err.label)
            raise
        except Exception as err:  # the socket went away while sending
            self._fail(method, "closed")
            raise RpcFailure("closed", str(err)) from None
        self.stats.latencies.setdefault(method, []).append(time.perf_counter() - started)
        if "error" in msg:
            label = str(msg["error"].get("code"))
            self._fail(method, label)
            raise RpcFailure(label, str(msg["error"].get("message", "")))
        return msg.get("result", {})

    def _fail(self, method: str, label: str) -> None:
        self.stats.errors[label] += 1
        self.stats.method_errors[method] += 1

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


def _session_url(base: str, cfg: Config, sub: str) -> str:
    """The URL a user connects to: ``/app/<id>`` for an app, ``/app/engineData`` otherwise. Without tokens
    every user is the same user to the engine (one shared session), so each gets ``/identity/<sub>``."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    if not path:
        path = f"/app/{cfg.app}" if cfg.app else "/app/engineData"
    if cfg.token_alg is None and "/identity/" not in path:
        path += f"/identity/{sub}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _list_def(field_name: str) -> dict:
    return {"qInfo": {"qType": "loadtest-list"},
            "qListObjectDef": {"qDef": {"qFieldDefs": [field_name]},
                               "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": 1, "qHeight": 50}]}}


def _cube_def(fields: Sequence[str], measure: str) -> dict:
    return {"qInfo": {"qType": "loadtest-cube"},
            "qHyperCubeDef": {"qDimensions": [{"qDef": {"qFieldDefs": [f]}} for f in fields],
                              "qMeasures": [{"qDef": {"qDef": measure}}],
                              "qInitialDataFetch": [{"qTop": 0, "qLeft": 0, "qWidth": len(fields) + 1,
                                                     "qHeight": 20}]}}


class User:
    """One simulated user: connect, open, then the scenario loop until the run ends."""

    def __init__(self, n: int, cfg: Config, stats: Stats, budget: Callable[[], bool], deadline: float) -> None:
        self.n = n
        self.cfg = cfg
        self.stats = stats
        self.budget = budget  # False once the run's request budget is spent
        self.deadline = deadline
        self.rng = random.Random(cfg.seed * 1_000_003 + n)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and self.budget()

    async def think(self) -> None:
        pause = self.cfg.think * self.rng.uniform(0.5, 1.5)
        await asyncio.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))

    async def run(self) -> None:
        sub = f"{self.cfg.user_prefix}{self.n}"
        token = mint_token(self.cfg, sub)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        lost_at: float | None = None  # --reconnect: when the socket was lost
        delay = 0.05
        while True:
            outcome = await self.session(sub, headers, lost_at)
            if outcome in ("done", "error") or not self.cfg.reconnect or not self.running():
                break
            if outcome == "served":  # it was up, then lost: time the way back from now
                lost_at, delay = time.perf_counter(), 0.05
            elif lost_at is None:
                lost_at = time.perf_counter()
            await asyncio.sleep(min(delay, max(0.0, self.deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
        if outcome == "error" or (outcome != "done" and self.running()):
            self.stats.users_failed += 1
        self.stats.users_done += 1

    async def session(self, sub: str, headers: dict[str, str], lost_at: float | None) -> str:
        """One connection: "done" when the run ended, "error" when a call failed (the user stops), "served"
        when the socket was lost after the app opened, "failed" when it could not connect or open."""
        started = time.perf_counter()
        try:
            ws = await connect(_session_url(self.cfg.url, self.cfg, sub), additional_headers=headers,
                               ping_interval=None, **self.cfg.connect_options())
        except InvalidStatus as err:
            self.stats.refused[f"http-{err.response.status_code}"] += 1
            return "failed"
        except (OSError, TimeoutError) as err:
            self.stats.refused[type(err).__name__] += 1
            return "failed"
        self.stats.latencies.setdefault("(handshake)", []).append(time.perf_counter() - started)
        self.stats.handshakes += 1
        self.stats.connected += 1
        qix = QixSocket(ws, self.stats, self.cfg.timeout)
        opened = False
        try:
            doc = await self.open_doc(qix)
            opened = True
            if lost_at is not None:
                self.stats.reconnects.append(time.perf_counter() - lost_at)
            if self.cfg.scenario == "light":
                await self.light(qix, doc)
            else:
                await self.full(qix, doc)
            return "done"
        except RpcFailure as err:  # counted where it happened
            if not self.cfg.reconnect or err.label not in ("closed", "timeout"):
                return "error"  # this user stops, as a real client would on an error
            return "served" if opened else "failed"
        finally:
            self.stats.connected -= 1
            with contextlib.suppress(Exception):
                await qix.close()

    async def open_doc(self, qix: QixSocket) -> int:
        if self.cfg.app:
            return (await qix.call("OpenDoc", -1, self.cfg.app))["qReturn"]["qHandle"]
        doc = (await qix.call("CreateSessionApp", -1))["qReturn"]["qHandle"]
        if self.cfg.scenario == "light" and self.cfg.script is None:
            return doc  # the light scenario's object needs no data
        await qix.call("SetScript", doc, self.cfg.script or BUILTIN_SCRIPT)
        result = await qix.call("DoReload", doc, 0, False, False)
        if result.get("qReturn") is not True:
            self.stats.errors["reload-failed"] += 1
            raise RpcFailure("reload-failed")
        return doc

    async def fields(self, qix: QixSocket, doc: int) -> tuple[list[str], str]:
        """The fields to chart: given, built-in, or the first two of the app's field list."""
        builtin = not (self.cfg.app or self.cfg.script or self.cfg.fields)
        if self.cfg.fields:
            names = list(self.cfg.fields)
        elif builtin:
            names = list(BUILTIN_FIELDS)
        else:
            obj = (await qix.call("CreateSessionObject", doc, {
                "qInfo": {"qType": "loadtest-fields"}, "qFieldListDef": {}}))["qReturn"]["qHandle"]
            layout = (await qix.call("GetLayout", obj))["qLayout"]
            names = [item["qName"] for item in layout["qFieldList"]["qItems"]][:2]
            if not names:
                raise RpcFailure("no-fields", "the app has no fields to chart")
        measure = self.cfg.measure or (BUILTIN_MEASURE if builtin else f"Count([{names[-1]}])")
        return names, measure

    async def light(self, qix: QixSocket, doc: int) -> None:
        obj = (await qix.call("CreateSessionObject", doc, {
            "qInfo": {"qType": "loadtest-kpi"},
            "title": {"qStringExpression": {"qExpr": "='user ' & 1 + 1"}}}))["qReturn"]["qHandle"]
        while self.running():
            await qix.call("GetLayout", obj)
            await self.think()

    async def full(self, qix: QixSocket, doc: int) -> None:
        names, measure = await self.fields(qix, doc)
        listbox = (await qix.call("CreateSessionObject", doc, _list_def(names[0])))["qReturn"]["qHandle"]
        cube = (await qix.call("CreateSessionObject", doc, _cube_def(names, measure)))["qReturn"]["qHandle"]
        for step in itertools.count():
            if not self.running():
                return
            layout = (await qix.call("GetLayout", listbox))["qLayout"]["qListObject"]
            rows = [row[0] for page in layout["qDataPages"] for row in page["qMatrix"]]
            if rows:
                pick = self.rng.choice(rows)["qElemNumber"]
                await qix.call("SelectListObjectValues", listbox, "/qListObjectDef", [pick], True)
            await self.think()
            if not self.running():
                return
            size = (await qix.call("GetLayout", cube))["qLayout"]["qHyperCube"]["qSize"]
            top = self.rng.randrange(max(1, size["qcy"]))
            await qix.call("GetHyperCubeData", cube, "/qHyperCubeDef",
                           [{"qTop": top, "qLeft": 0, "qWidth": size["qcx"], "qHeight": 50}])
            await self.think()
            if step % 3 == 2 and self.running():
                await qix.call("ClearAll", doc, False)


async def prepare_app(cfg: Config) -> None:
    """``--app`` with ``--script``: create the app if missing, load the script into it and save it, once,
    before any user starts, so every user opens the same reloaded app."""
    token = mint_token(cfg, f"{cfg.user_prefix}owner")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    parts = urlsplit(cfg.url)
    url = urlunsplit((parts.scheme, parts.netloc, "/app/engineData", "", ""))
    async with connect(url, additional_headers=headers, **cfg.connect_options()) as ws:
        qix = QixSocket(ws, Stats(), max(cfg.timeout, 600))
        with contextlib.suppress(RpcFailure):  # it exists already: reload it in place
            await qix.call("CreateApp", -1, cfg.app)
        doc = (await qix.call("OpenDoc", -1, cfg.app))["qReturn"]["qHandle"]
        await qix.call("SetScript", doc, cfg.script)
        if (await qix.call("DoReload", doc, 0, False, False)).get("qReturn") is not True:
            raise RpcFailure("reload-failed", f"the script did not load into {cfg.app}")
        await qix.call("DoSave", doc)
        await qix.close()


# ---------------------------------------------------------------------------------------------- a worker

async def run_users(cfg: Config, first: int, stride: int, count: int, max_requests: int, stats: Stats,
                    report: Callable[[dict], None], start_at: float) -> None:
    """Start users ``first, first + stride, …`` (``count`` of them) spread over the ramp-up, report live.

    Workers take interleaved user numbers, so the whole run ramps evenly whatever the worker count."""
    deadline = start_at + cfg.duration

    def budget() -> bool:
        return max_requests == 0 or stats.requests < max_requests

    async def start(n: int) -> None:
        await asyncio.sleep(max(0.0, start_at + cfg.ramp_up * n / cfg.users - time.monotonic()))
        if time.monotonic() < deadline and budget():
            await User(n, cfg, stats, budget, deadline).run()

    tasks = [asyncio.create_task(start(first + i * stride)) for i in range(count)]
    all_done = asyncio.gather(*tasks)
    while not all_done.done():
        await asyncio.wait([all_done], timeout=STATUS_EVERY)
        report(stats.live())
    await all_done


def _worker_process(cfg: Config, first: int, workers: int, count: int, max_requests: int,
                    start_at_wall: float, out: multiprocessing.Queue) -> None:
    """Entry point of a ``--workers`` child: run its users, stream live counts, send the stats at the end."""
    _use_uvloop()
    start_at = time.monotonic() + (start_at_wall - time.time())
    stats = Stats()

    def report(live: dict) -> None:
        out.put(("live", first, live))

    asyncio.run(run_users(cfg, first, workers, count, max_requests, stats, report, start_at))
    out.put(("done", first, _stats_payload(stats)))


def _stats_payload(stats: Stats) -> dict:
    payload = asdict(stats)
    payload["errors"], payload["method_errors"], payload["refused"] = (
        dict(stats.errors), dict(stats.method_errors), dict(stats.refused))
    return payload


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# ---------------------------------------------------------------------------------------------- server metrics

@dataclass
class ServerSample:
    """What the engine's ``/metrics`` says at one moment (None: that engine does not export it)."""

    cpu_seconds: float | None
    rss_bytes: float | None
    requests: float | None
    sessions: float | None


def scrape(url: str) -> ServerSample | None:
    """Read the engine's Prometheus text; None when it is unreachable (the run goes on without it)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    wanted = ("process_cpu_seconds_total", "process_resident_memory_bytes", "qix_requests_total",
              "qix_active_sessions")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "qix_requests":  # declared, but a labelled counter has no series before its first use
            values.setdefault("qix_requests_total", 0.0)
        for sample in family.samples:
            if sample.name in wanted:  # per-method series of a counter add up
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return ServerSample(*(values.get(name) for name in wanted))


def server_figures(before: ServerSample | None, ramp: list[ServerSample | None],
                   after: ServerSample | None) -> dict[str, float] | None:
    """CPU seconds per request over the run, and server memory per session.

    Memory per session is the RSS growth between mid-ramp and the end of the ramp divided by the sessions
    added in between: the first sessions also pay one-time costs (imports, allocator pools, caches) that
    say nothing about the next thousand. The growth since the start is reported beside it."""
    if before is None or after is None:
        return None
    out: dict[str, float] = {}
    if before.cpu_seconds is not None and after.cpu_seconds is not None:
        out["cpu_seconds"] = after.cpu_seconds - before.cpu_seconds
    if before.requests is not None and after.requests is not None:
        out["requests"] = after.requests - before.requests
        if out["requests"] > 0 and "cpu_seconds" in out:
            out["cpu_ms_per_request"] = 1000 * out["cpu_seconds"] / out["requests"]
    if before.rss_bytes is None or after.rss_bytes is None or before.sessions is None:
        return out  # no memory or session figures from this engine
    out["rss_before_mib"], out["rss_after_mib"] = before.rss_bytes / 2**20, after.rss_bytes / 2**20
    samples = [s for s in ramp if s is not None and s.rss_bytes is not None and s.sessions is not None]
    if samples:
        peak = samples[-1]
        out["sessions_at_peak"] = peak.sessions
        out["rss_peak_mib"] = peak.rss_bytes / 2**20
        if peak.sessions > before.sessions:
            out["rss_kib_per_session_since_start"] = (peak.rss_bytes - before.rss_bytes) / 1024 / (
                peak.sessions - before.sessions)
        if len(samples) == 2 and samples[1].sessions > samples[0].sessions:
            out["rss_kib_per_session"] = (samples[1].rss_bytes - samples[0].rss_bytes) / 1024 / (
                samples[1].sessions - samples[0].sessions)
    return out


# ---------------------------------------------------------------------------------------------- the run

@dataclass
class Live:
    """Latest live counts per worker, shown as one refreshing status line."""

    started: float
    per_worker: dict[int, dict] = field(default_factory=dict)
    last_requests: int = 0
    last_time: float = 0.0
    rate: float = 0.0

    def update(self, worker: int, live: dict) -> None:
        self.per_worker[worker] = live

    def line(self) -> str:
        total = Counter()
        for live in self.per_worker.values():
            total.update(live)
        now = time.monotonic()
        if now - self.last_time >= 1.0:
            self.rate = (total["requests"] - self.last_requests) / (now - self.last_time) if self.last_time else 0.0
            self.last_requests, self.last_time = total["requests"], now
        return (f"{now - self.started:6.1f}s  users connected {total['connected']:5d}  "
                f"requests {total['requests']:8d}  {self.rate:8.0f} req/s  errors {total['errors']}")


class StatusLine:
    """A refreshing line on a terminal; a line every few seconds when stderr is a file or pipe."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def show(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r" + text)
            sys.stderr.flush()
        elif time.monotonic() - self.last >= 5:
            self.last = time.monotonic()
            print(text, file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


async def run(cfg: Config, workers: int, metrics_url: str | None, status: StatusLine) -> dict:
    """Run the whole load (in this process, or across ``workers`` processes) and build the summary."""
    if cfg.app and cfg.script:
        await prepare_app(cfg)
    before = await asyncio.to_thread(scrape, metrics_url) if metrics_url else None
    started = time.monotonic() + (1.0 if workers > 1 else 0.0)  # child processes need a moment to import
    live = Live(started)
    stats = Stats()
    ramp: list[ServerSample | None] = []

    async def sample_ramp() -> None:
        """Mid-ramp and end-of-ramp samples, each after the newest users had time to set up."""
        settle = min(2.0, cfg.think + 0.5)
        for at in (cfg.ramp_up / 2 + settle, cfg.ramp_up + settle):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if time.monotonic() < started + cfg.duration:
                ramp.append(await asyncio.to_thread(scrape, metrics_url))

    sampler = asyncio.create_task(sample_ramp()) if metrics_url else None
    if workers <= 1:
        def report(snapshot: dict) -> None:
            live.update(0, snapshot)
            status.show(live.line())

        await run_users(cfg, 0, 1, cfg.users, cfg.max_requests, stats, report, started)
    else:
        await _run_workers(cfg, workers, started, stats, live, status)
    elapsed = time.monotonic() - started
    if sampler is not None:
        sampler.cancel()
    status.end()
    after = await asyncio.to_thread(scrape, metrics_url) if metrics_url else None
    return summarize(cfg, workers, stats, elapsed, server_figures(before, ramp, after))


async def _run_workers(cfg: Config, workers: int, start_at: float, stats: Stats, live: Live,
                       status: StatusLine) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()
    start_wall = time.time() + (start_at - time.monotonic())
    procs = []
    for w in range(workers):
        count = len(range(w, cfg.users, workers))
        budget = cfg.max_requests // workers + (1 if w < cfg.max_requests % workers else 0)
        if cfg.max_requests and budget == 0:
            continue
        procs.append(ctx.Process(target=_worker_process, args=(cfg, w, workers, count, budget if cfg.max_requests else 0,
                                                                start_wall, out), daemon=True))
    for p in procs:
        p.start()
    pending = len(procs)
    deadline = time.monotonic() + cfg.duration + cfg.timeout + 60
    while pending and time.monotonic() < deadline:
        try:
            kind, worker, payload = await asyncio.to_thread(out.get, True, STATUS_EVERY)
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                break
            continue
        if kind == "live":
            live.update(worker, payload)
            status.show(live.line())
        else:
            stats.merge(payload)
            live.update(worker, {**stats.live(), "connected": 0})
            pending -= 1
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
    if pending:
        stats.errors["worker-lost"] += pending


def _latency(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=float) * 1000
    if not len(ms):
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2), "p99_ms": round(float(p99), 2),
            "max_ms": round(float(ms.max()), 2)}


def summarize(cfg: Config, workers: int, stats: Stats, elapsed: float, server: dict | None) -> dict:
    names = sorted(set(stats.latencies) | set(stats.method_errors), key=lambda m: (m == "(handshake)", m))
    methods = {m: {"count": len(stats.latencies.get(m, ())), "errors": stats.method_errors.get(m, 0),
                   **_latency(stats.latencies.get(m, ()))} for m in names}
    calls = [x for m, v in stats.latencies.items() if m != "(handshake)" for x in v]
    out = {
        "url": cfg.url, "scenario": cfg.scenario, "users": cfg.users, "workers": workers,
        "duration_s": round(elapsed, 2), "requests": stats.requests,
        "throughput_rps": round(stats.requests / elapsed, 1) if elapsed else 0.0,
        "latency": _latency(calls), "methods": methods,
        "errors": dict(stats.errors), "handshakes": {"ok": stats.handshakes, "refused": dict(stats.refused)},
        "server": server,
    }
    if cfg.reconnect:
        out["reconnects"] = {"count": len(stats.reconnects), **_latency(stats.reconnects)}
        out["users_failed"] = stats.users_failed
    return out


def format_summary(s: dict) -> str:
    lines = [f"{s['scenario']} scenario, {s['users']} users, {s['workers']} worker(s), {s['duration_s']} s: "
             f"{s['requests']} requests, {s['throughput_rps']} req/s; "
             f"latency p50 {s['latency']['p50_ms']} ms, p99 {s['latency']['p99_ms']} ms", ""]
    header = ("method", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = [header] + [(m, *(str(v[k]) for k in ("count", "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms")))
                       for m, v in s["methods"].items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    lines.append("")
    lines.append("errors by code: " + (", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items())) or "none"))
    refused = s["handshakes"]["refused"]
    lines.append(f"handshakes: {s['handshakes']['ok']} ok, refused: "
                 + (", ".join(f"{k}: {v}" for k, v in sorted(refused.items())) or "none"))
    if "reconnects" in s:
        r = s["reconnects"]
        lines.append(f"reconnects: {r['count']} (to the app open again: p50 {r['p50_ms']} ms, max {r['max_ms']} ms); "
                     f"users that could not continue: {s['users_failed']}")
    if s["server"]:
        srv = s["server"]
        parts = []
        if "cpu_seconds" in srv and "requests" in srv:
            parts.append(f"CPU {srv['cpu_seconds']:.2f} s for {srv['requests']:.0f} requests")
        if "cpu_ms_per_request" in srv:
            parts.append(f"{srv['cpu_ms_per_request']:.3f} ms CPU per request")
        if "rss_kib_per_session" in srv:
            parts.append(f"RSS {srv['rss_kib_per_session']:.1f} KiB per added session")
        if "rss_peak_mib" in srv:
            parts.append(f"{srv['sessions_at_peak']:.0f} sessions at the end of the ramp, RSS {srv['rss_peak_mib']:.1f} MiB")
        if parts:
            lines.append("server: " + "; ".join(parts))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadtest.py", description="Load-test a QIX engine with simulated users.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Examples::", 1)[1])
    p.add_argument("--url", default="ws://127.0.0.1:9076", help="engine URL; a path (e.g. /app/x) is kept")
    p.add_argument("--users", type=int, default=50, help="simulated users (distinct sub claims)")
    p.add_argument("--duration", type=float, default=30, help="seconds the run lasts, ramp-up included")
    p.add_argument("--ramp-up", type=float, default=5, help="seconds over which users connect")
    p.add_argument("--think", type=float, default=1.0, help="mean think time between steps (seconds)")
    p.add_argument("--scenario", choices=("full", "light"), default="full")
    p.add_argument("--max-requests", type=int, default=0, help="stop after this many requests in all (0 = no cap)")
    p.add_argument("--insecure", action="store_true", help="wss:// without checking the engine's certificate")
    p.add_argument("--reconnect", action="store_true",
                   help="reconnect a lost socket and go on (an engine behind a proxy died or drained)")
    p.add_argument("--timeout", type=float, default=30, help="seconds before a handshake or call counts as failed")
    p.add_argument("--workers", type=int, default=1, help="client processes (users are split between them)")
    p.add_argument("--secret", help="HMAC secret: sign tokens with HS256 (or --alg)")
    p.add_argument("--key", type=Path, help="PEM private key: sign tokens with RS256/ES256 (or --alg)")
    p.add_argument("--alg", help="token algorithm (default HS256 with --secret, RS256/ES* from the key)")
    p.add_argument("--user-prefix", default="loaduser", help="sub of user n is <prefix><n>")
    p.add_argument("--groups", default="", help="comma-separated groups claim for every user")
    p.add_argument("--app", help="app id every user opens (default: a session app per user)")
    p.add_argument("--script", type=Path, help="load script: with --app, loaded into that app once before the "
                   "run; without, into each user's session app (default: a built-in script)")
    p.add_argument("--fields", default="", help="comma-separated fields to chart (default: first two)")
    p.add_argument("--measure", help="hypercube measure (default: Count of the last field)")
    p.add_argument("--metrics-url", help="the engine's /metrics URL: adds server CPU per request, RSS per session")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no live status line")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    if args.users < 1 or args.duration <= 0 or args.workers < 1 or args.ramp_up < 0 or args.think < 0:
        raise UsageError("--users and --workers must be at least 1, --duration positive, times not negative")
    if args.secret and args.key:
        raise UsageError("give --secret or --key, not both")
    if not urlsplit(args.url).scheme.startswith("ws"):
        raise UsageError(f"--url must be ws:// or wss://, not {args.url!r}")
    alg, key = None, None
    if args.secret:
        alg, key = args.alg or "HS256", args.secret
        if not alg.startswith("HS"):
            raise UsageError(f"--secret signs HS256/384/512 tokens, not {alg}")
    elif args.key:
        try:
            key = args.key.read_text()
        except OSError as err:
            raise UsageError(f"--key: {err.strerror}: {args.key}") from None
        alg = args.alg or ("ES256" if "EC PRIVATE" in key or _is_ec(key) else "RS256")
    script = None
    if args.script:
        try:
            script = args.script.read_text()
        except OSError as err:
            raise UsageError(f"--script: {err.strerror}: {args.script}") from None
    cfg = Config(url=args.url, users=args.users, duration=args.duration, ramp_up=min(args.ramp_up, args.duration),
                 think=args.think, scenario=args.scenario, max_requests=max(0, args.max_requests),
                 timeout=args.timeout, user_prefix=args.user_prefix,
                 groups=tuple(g for g in args.groups.split(",") if g), token_alg=alg, token_key=key,
                 app=args.app, script=script, fields=tuple(f for f in args.fields.split(",") if f),
                 measure=args.measure, seed=args.seed, insecure=args.insecure, reconnect=args.reconnect)
    try:
        mint_token(cfg, "probe")
    except Exception as err:
        raise UsageError(f"cannot sign {alg} tokens with the given key: {err}") from None
    return cfg


def _is_ec(pem: str) -> bool:
    try:
        ECKey.import_key(pem)
    except Exception:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except UsageError as err:
        print(f"loadtest.py: {err}", file=sys.stderr)
        return 2
    _use_uvloop()
    try:
        summary = asyncio.run(run(cfg, args.workers, args.metrics_url, StatusLine(args.quiet or args.json)))
    except (RpcFailure, OSError, InvalidStatus) as err:
        print(f"loadtest.py: preparing app {cfg.app} failed: {err}", file=sys.stderr)
        return 1
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() if args.json else format_summary(summary))
    failed = sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values())
    return 1 if failed or summary["requests"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
