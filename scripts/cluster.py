"""Run a cluster on one machine without Docker: N engines on local ports sharing one document directory,
behind a local HAProxy configured from ``deploy/haproxy/haproxy.cfg`` (the same file docker-compose uses,
with its ``bind`` and ``server`` lines rewritten for local ports). For development, tests and load tests.

    python scripts/cluster.py --engines 3 --port 9076 --dir ./apps -S ValidateJsonWebTokens=2 \\
        -S JsonWebTokenSecret=passw0rd

Every engine runs with ``EnableFilePolling=1``. HAProxy comes from the distribution (``apt-get install
haproxy``, done here when it is missing and we are root). Ctrl-C (or SIGTERM) drains the engines and
stops everything. Tests and benchmarks use :class:`Cluster` directly.
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/cluster.py``, this directory heads sys.path and its token.py would shadow the
# standard library's ``token`` module; drop that entry before other imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from types import TracebackType  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HAPROXY_CFG = REPO / "deploy" / "haproxy" / "haproxy.cfg"
_SERVERS = re.compile(r"^(\s*)# BEGIN servers\n.*?^\s*# END servers\n", re.S | re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_haproxy() -> str:
    """The haproxy binary; installed from the distribution when missing (needs root)."""
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
                                             if os.access(p, os.X_OK)), None)
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("haproxy is not installed: run `apt-get install haproxy` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], check=True, env=env, stdout=subprocess.DEVNULL)
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(found, os.X_OK):
        raise RuntimeError("apt-get install haproxy did not provide a haproxy binary")
    return found


def render_config(template: str, port: int, servers: Sequence[tuple[str, int]], stats_port: int,
                  check_interval: float | None = None) -> str:
    """``deploy/haproxy/haproxy.cfg`` for local engines: binds on 127.0.0.1, one server line per engine,
    no Docker DNS; everything else (routing, timeouts, checks) as deployed."""
    m = _SERVERS.search(template)
    if m is None:
        raise ValueError("haproxy.cfg has no '# BEGIN servers' ... '# END servers' block")
    indent = m.group(1)
    lines = "".join(f"{indent}server {name} 127.0.0.1:{p}\n" for name, p in servers)
    out = template[:m.start()] + lines + template[m.end():]
    out = out.replace("bind :9076", f"bind 127.0.0.1:{port}").replace("bind :8404", f"bind 127.0.0.1:{stats_port}")
    out = out.replace(" resolvers docker init-addr last,libc,none", "")
    out = re.sub(r"^resolvers docker\n(?:[ \t]+.*\n)*", "", out, flags=re.M)
    if check_interval is not None:
        out = out.replace("check inter 1s", f"check inter {int(check_interval * 1000)}ms")
    return out


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == status:
                    return
        except urllib.error.HTTPError as err:
            if err.code == status:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer {status} in {timeout} s")


@dataclass
class EngineProcess:
    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """N engines and one HAProxy on 127.0.0.1; ``with Cluster(...) as c:`` starts and stops them."""

    engines: int = 3
    document_dir: Path | None = None
    port: int = 0  # 0 = a free port
    settings: Sequence[str] = ()
    polling_interval: float = 10.0
    stats_port: int = 0
    #: HAProxy's health-check interval (1 s as deployed; tests shorten it)
    check_interval: float | None = None
    #: pin engine i to CPU cpus[i % len(cpus)] with taskset (benchmarks)
    cpus: Sequence[int] = ()
    workdir: Path | None = None
    quiet_engines: bool = True
    #: False: engines only (tests of document sync between processes)
    proxy: bool = True
    members: list[EngineProcess] = field(default_factory=list)
    haproxy: subprocess.Popen | None = None
    _tmp: tempfile.TemporaryDirectory | None = None

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self) -> Cluster:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="qix-cluster-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.document_dir is None:
            self.document_dir = self.workdir / "apps"
        self.document_dir = Path(os.path.abspath(self.document_dir))
        self.document_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.stats_port = self.stats_port or free_port()
        try:
            self.members = [EngineProcess(f"engine{i + 1}", free_port(), self.workdir / f"engine{i + 1}.log")
                            for i in range(self.engines)]
            for i in range(self.engines):
                self.start_engine(i)
            for member in self.members:
                assert member.proc is not None
                _wait_http(f"http://127.0.0.1:{member.port}/healthcheck", member.proc, 60)
            if self.proxy:
                self._start_haproxy()
        except BaseException:
            self.stop()
            raise
        return self

    def start_engine(self, i: int) -> None:
        """(Re)start engine ``i`` on its port."""
        member = self.members[i]
        pin = ["taskset", "-c", str(self.cpus[i % len(self.cpus)])] if self.cpus else []
        cmd = [*pin, sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(member.port),
               "-S", f"DocumentDirectory={self.document_dir}", "-S", "PrometheusPort=0",
               "-S", "EnableFilePolling=1", "-S", f"FilePollingInterval={self.polling_interval:g}"]
        if self.quiet_engines:
            cmd += ["-S", "SystemLogVerbosity=2"]
        for s in self.settings:
            cmd += ["-S", s]
        log = open(member.log_path, "ab")  # noqa: SIM115  (the child keeps it)
        # a session of its own: Ctrl-C reaches this script only, which drains the engines in order
        member.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                       env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
        log.close()

    def wait_engine(self, i: int, timeout: float = 60) -> None:
        member = self.members[i]
        assert member.proc is not None
        _wait_http(f"http://127.0.0.1:{member.port}/healthcheck", member.proc, timeout)

    def _start_haproxy(self) -> None:
        assert self.workdir is not None
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(render_config(HAPROXY_CFG.read_text(), self.port,
                                     [(m.name, m.port) for m in self.members], self.stats_port,
                                     self.check_interval))
        binary = ensure_haproxy()
        check = subprocess.run([binary, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode:
            raise RuntimeError(f"haproxy -c failed:\n{check.stdout}{check.stderr}")
        log = open(self.workdir / "haproxy.log", "ab")  # noqa: SIM115
        self.haproxy = subprocess.Popen([binary, "-W", "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not self.servers_up() and time.monotonic() < deadline:
            if self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.haproxy.returncode}")
            time.sleep(0.05)

    def servers_up(self) -> list[str]:
        """Names of the engines HAProxy considers up (from its stats CSV)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=2) as resp:
                rows = resp.read().decode().splitlines()
        except OSError:
            return []
        header = rows[0].lstrip("# ").split(",")
        out = []
        for row in rows[1:]:
            cells = dict(zip(header, row.split(","), strict=False))
            if cells.get("pxname") == "engines" and cells.get("svname", "").startswith("engine") \
                    and cells.get("status", "").startswith("UP"):
                out.append(cells["svname"])
        return out

    def stop(self) -> None:
        """Drain every engine (SIGTERM), then stop HAProxy."""
        live = [m.proc for m in self.members if m.proc is not None and m.proc.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.send_signal(signal.SIGTERM)
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- for tests ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def engine_url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.members[i].port}"

    def index_of(self, name: str) -> int:
        return next(i for i, m in enumerate(self.members) if m.name == name)

    def kill(self, i: int) -> None:
        """kill -9 engine ``i``."""
        proc = self.members[i].proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def drain(self, i: int) -> None:
        """SIGTERM engine ``i`` (it drains, then exits); does not wait."""
        proc = self.members[i].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    def wait_servers(self, count: int, timeout: float = 15) -> list[str]:
        """Wait until HAProxy sees exactly ``count`` engines up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = self.servers_up()
            if len(up) == count:
                return up
            time.sleep(0.05)
        raise TimeoutError(f"HAProxy did not see {count} engines up (sees {self.servers_up()})")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cluster.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", type=int, default=3, help="engine processes (default: %(default)s)")
    p.add_argument("--port", type=int, default=9076, help="the proxy's port (default: %(default)s)")
    p.add_argument("--stats-port", type=int, default=8404, help="HAProxy's stats page (default: %(default)s)")
    p.add_argument("--dir", type=Path, default=Path("apps"), help="shared DocumentDirectory (default: ./apps)")
    p.add_argument("--polling-interval", type=float, default=10.0,
                   help="FilePollingInterval of every engine, seconds (default: %(default)s)")
    p.add_argument("--logs", type=Path, help="folder for the engine and HAProxy logs (default: a temp folder)")
    p.add_argument("-S", dest="settings", action="append", default=[], metavar="Key=Value",
                   help="engine setting for every engine, repeatable")
    args = p.parse_args(argv)
    if args.engines < 1:
        p.error("--engines must be at least 1")
    cluster = Cluster(engines=args.engines, document_dir=args.dir, port=args.port, settings=args.settings,
                      polling_interval=args.polling_interval, stats_port=args.stats_port, workdir=args.logs,
                      quiet_engines=False)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
    except RuntimeError as err:
        print(f"cluster.py: {err}", file=sys.stderr)
        return 1
    print(f"proxy:   ws://127.0.0.1:{cluster.port}   (stats http://127.0.0.1:{cluster.stats_port}/)")
    for m in cluster.members:
        print(f"{m.name}: ws://127.0.0.1:{m.port}   log {m.log_path}")
    print(f"apps:    {cluster.document_dir}\nCtrl-C stops everything.", flush=True)
    try:
        while not stop:
            for m in cluster.members:
                if m.proc is not None and m.proc.poll() is not None:
                    print(f"{m.name} exited with {m.proc.returncode}", file=sys.stderr)
                    m.proc = None
            if cluster.haproxy is not None and cluster.haproxy.poll() is not None:
                print(f"haproxy exited with {cluster.haproxy.returncode}", file=sys.stderr)
                break
            time.sleep(0.2)
    finally:
        print("stopping ...", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
