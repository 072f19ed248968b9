"""What every benchmark shares: the ``Figure`` a bench reports to ``run.py``, and the helpers for starting
servers on pinned CPUs and timing code.

The machine has two cores: socket benches pin the server to CPU 0 and the load to CPU 1, so a server's
figure is what one core gives, and the load generator never steals from it.
"""

from __future__ import annotations

import os
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from anywhere: the repo's engine

SERVER_CPU, LOAD_CPU = 0, 1


@dataclass(frozen=True)
class Figure:
    """One measured figure: ours against a baseline measured in the same run, and the command to redo it.

    ``ratio`` is always ours / baseline in the figure's unit; ``target`` says which way is good
    (``"≥ 0.8"`` for rates, ``"≤ 1.0"`` for times) and ``met`` is None when there is no target.
    """

    bench: str
    name: str
    ours: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float
    target: str | None
    met: bool | None
    command: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        return cls(**data)


def figure(
    bench: str,
    name: str,
    ours: float,
    unit: str,
    baseline: str,
    baseline_value: float,
    *,
    command: str,
    at_least: float | None = None,
    at_most: float | None = None,
    note: str = "",
) -> Figure:
    """A Figure with its ratio and target check computed (``at_least`` for rates, ``at_most`` for times)."""
    ratio = ours / baseline_value if baseline_value else float("nan")
    target: str | None = None
    met: bool | None = None
    if at_least is not None:
        target, met = f"≥ {at_least:g}", ratio >= at_least
    elif at_most is not None:
        target, met = f"≤ {at_most:g}", ratio <= at_most
    return Figure(bench, name, ours, unit, baseline, baseline_value, ratio, target, met, command, note)


def command(script: str, *args: object) -> str:
    """The shell command that reproduces a figure, relative to the repo root."""
    return shlex.join(["python", f"scripts/bench/{script}", *(str(a) for a in args)])


# --- processes, ports, CPUs ---------------------------------------------------------------------------


def two_cpus() -> bool:
    return (os.cpu_count() or 1) >= 2


def pin_cmd(cpu: int) -> list[str]:
    """A ``taskset`` prefix pinning a child to ``cpu`` (nothing on a one-core machine)."""
    return ["taskset", "-c", str(cpu)] if two_cpus() else []


def pin_self(cpu: int) -> None:
    if two_cpus():
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_engine(
    port: int,
    doc_dir: Path,
    *settings: str,
    cpu: int | None = SERVER_CPU,
    python: str = sys.executable,
    cwd: Path = REPO,
) -> subprocess.Popen:
    """``python -m engine`` on ``port``, pinned to ``cpu`` (None: not pinned), with quiet logs and extra
    ``-S`` settings; ``cwd`` is the source tree whose engine runs (another worktree for old-vs-new)."""
    cmd = [
        *(pin_cmd(cpu) if cpu is not None else []),
        python,
        "-m",
        "engine",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-S",
        f"DocumentDirectory={doc_dir}",
        "-S",
        "PrometheusPort=0",
        "-S",
        "SystemLogVerbosity=2",
    ]
    for s in settings:
        cmd += ["-S", s]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc


def start_python(code: str, port: int, cpu: int = SERVER_CPU) -> subprocess.Popen:
    """A Python server given as source (it reads its port from ``sys.argv[1]``), pinned to ``cpu``."""
    proc = subprocess.Popen(
        [*pin_cmd(cpu), sys.executable, "-c", code, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port, proc)
    return proc


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from ``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``), to see other load on the box."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss() -> int:
    """Resident bytes of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> None:
    """Start this process's resident high-water mark afresh (Linux: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss() -> int:
    """This process's resident high-water mark (``VmHWM``). Not ``ru_maxrss``: that one survives
    ``execve``, so a child started by a big parent reports the parent's size as its own peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- timing -------------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """(median seconds over ``repeat`` calls, the last call's result)."""
    out = None
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    """Fastest of ``repeat`` calls, in seconds (for sub-millisecond work where noise only adds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def medians(runs: dict[str, Sequence[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in runs.items()}
