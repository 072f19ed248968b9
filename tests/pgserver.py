"""A throwaway PostgreSQL server for tests and benchmarks: the distribution's binaries, a fresh cluster in a
temporary directory, password authentication, a free loopback port, no Unix socket.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the ``postgres`` system user
(created by Debian's package) and ``initdb``/``pg_ctl`` run as that user; otherwise they run as us. The
data directory is made with ``tempfile.mkdtemp`` (not pytest's per-user tmp, which another user cannot
enter) and removed by :meth:`PostgresServer.stop`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "qix"
PASSWORD = "s3cret-pw"
DATABASE = "qix"


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: ``pg_config --bindir``, Debian's versioned folders, PATH."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(os.path.realpath(initdb)).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    return None


def _version_key(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``start()`` → a running server at :attr:`url`; ``stop()`` ends it and removes its files."""

    def __init__(self, bindir: Path | None = None) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bindir = found
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="qix-pg-"))
        self.data = self.root / "data"
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None
        self.started = False

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def url_with(self, *, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True,
                              user=self._run_as, cwd=self.root, timeout=120, check=False)
        if proc.returncode:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{args[0]} failed: {proc.stderr or proc.stdout}\n{tail}")
        return proc

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            for p in (self.root, pwfile):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "--auth=scram-sha-256",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(5):    # a free port can be taken by someone else before the server binds it
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=40")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "-t",
                          "60", "start")
                break
            except RuntimeError as err:
                if "Address already in use" not in str(err) or attempt == 4:
                    raise
                self.port = _free_port()
        self.started = True
        self._wait_listening()
        self._create_database()
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("PostgreSQL did not listen in time")

    def _create_database(self) -> None:
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.url_with(database="postgres"), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")

    def execute(self, *statements: str) -> None:
        """Run SQL statements (DDL, inserts) in one autocommit session."""
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def stop(self) -> None:
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            except RuntimeError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)
