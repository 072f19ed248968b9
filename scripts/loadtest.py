"""Load test for a QIX engine (this one or a real ``qlikcore/engine``), run by Locust.

A thin command line over ``scripts/qixload/locustfile.py``: it turns the options below into a Locust run
(headless unless ``--web``), waits for it, and prints the latency table (``--json``: the summary). Each
simulated user has its own JWT (``sub`` = ``<prefix><n>``; without ``--secret``/``--key`` the identity
``/identity/<prefix><n>`` goes in the URL instead), opens an app or builds a session app, and runs a
scenario: ``light``, ``full``, ``dashboard``, or your own file (README, "Load testing").

Examples::

    python scripts/loadtest.py --url ws://127.0.0.1:9076 --users 200 --duration 60 --ramp-up 20 --secret passw0rd
    python scripts/loadtest.py --users 1000 --scenario light --think 1 --workers 2 --secret passw0rd \\
        --metrics-url http://127.0.0.1:9090/metrics --html report.html
    python scripts/loadtest.py --scenario dashboard --users 100 --web --secret passw0rd   # Locust's UI on :8089
    python scripts/loadtest.py --master --expect-workers 2 ...        # several machines: this one the master,
    python scripts/loadtest.py --worker --master-host 10.0.0.5        # and one of these on each load machine

A user whose socket is lost (closed, or a call timed out) stops; with ``--reconnect`` (a cluster behind a
proxy, where another engine takes over) it connects again, reopens its app and goes on, and the summary
times each way back (``reconnects``). ``users_failed`` counts users that stopped before the end.

Anything after ``--`` goes to Locust unchanged (e.g. ``-- --csv out``).
Exit status: 0 when every request and handshake succeeded, 1 otherwise, 2 for bad options.
"""

from __future__ import annotations

import os
import sys

# Run as ``python scripts/loadtest.py``, this directory heads sys.path and its token.py would shadow the
# standard library's ``token`` module; move it to the end (qixload is imported from here).
_HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
    del sys.path[0]
if _HERE not in sys.path:
    sys.path.append(_HERE)

import argparse  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from qixload.report import format_table  # noqa: E402
from qixload.tokens import TokenError, TokenMinter  # noqa: E402

LOCUSTFILE = Path(_HERE) / "qixload" / "locustfile.py"
BUILTIN_SCENARIOS = ("light", "full", "dashboard")


class UsageError(Exception):
    """A bad combination of options: one line on stderr, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadtest.py", description="Load-test a QIX engine with simulated users.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=(__doc__ or "").split("Examples::", 1)[1])
    p.add_argument("--url", default="ws://127.0.0.1:9076", help="engine URL; a path (e.g. /app/x) is kept")
    p.add_argument("--users", type=int, default=50, help="simulated users (distinct sub claims)")
    p.add_argument("--duration", type=float, default=30, help="seconds the run lasts, ramp-up included")
    p.add_argument("--ramp-up", type=float, default=5, help="seconds over which users connect")
    p.add_argument("--think", type=float, default=1.0, help="mean think time between steps (seconds)")
    p.add_argument("--scenario", default="full", help="light, full, dashboard, or path.py[:Class] (your own)")
    p.add_argument("--max-requests", type=int, default=0, help="stop after this many requests in all (0 = no cap)")
    p.add_argument("--insecure", action="store_true", help="wss:// without checking the engine's certificate")
    p.add_argument("--timeout", type=float, default=30, help="seconds before a handshake or call counts as failed")
    p.add_argument("--reconnect", action="store_true",
                   help="a user whose socket is lost (an engine behind a proxy died or drained) connects again, "
                        "reopens its app and goes on; without it, that user stops")
    p.add_argument("--secret", help="HMAC secret: sign tokens with HS256 (or --alg)")
    p.add_argument("--key", type=Path, help="PEM private key: sign tokens with RS256/ES256 (or --alg)")
    p.add_argument("--alg", help="token algorithm (default HS256 with --secret, RS256/ES* from the key)")
    p.add_argument("--user-prefix", default="loaduser", help="sub of user n is <prefix><n>")
    p.add_argument("--groups", default="", help="comma-separated groups claim for every user")
    p.add_argument("--claims", default="", help='extra claims for every user, a JSON object: \'{"roles": ["a"]}\'')
    p.add_argument("--app", help="app id every user opens (default: a session app per user; dashboard: one "
                   "generated app)")
    p.add_argument("--script", type=Path, help="load script: with --app (or the dashboard scenario), loaded into "
                   "that app once before the run; otherwise into each user's session app")
    p.add_argument("--fields", default="", help="full scenario: comma-separated fields to chart")
    p.add_argument("--measure", help="full scenario: hypercube measure")
    p.add_argument("--dashboard-rows", type=int, default=100_000, help="rows of the generated dashboard app")
    p.add_argument("--metrics-url", help="the engine's /metrics (default http://<engine host>:9090/metrics; "
                   "'off' for none)")
    p.add_argument("--sample-every", type=float, default=2.0, help="seconds between server samples")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--html", type=Path, help="write the HTML report (charts over time, server figures) here")
    p.add_argument("--web", action="store_true", help="Locust's web UI (charts, stats) while it runs; Ctrl-C ends")
    p.add_argument("--web-port", type=int, default=8089, help="port of the web UI (on 127.0.0.1)")
    dist = p.add_argument_group("processes and machines")
    dist.add_argument("--workers", type=int, default=0,
                      help="local worker processes: a master plus N workers (0: one process)")
    dist.add_argument("--master", action="store_true", help="be the master of workers on other machines")
    dist.add_argument("--expect-workers", type=int, default=1, help="with --master: workers to wait for")
    dist.add_argument("--master-bind-host", default="*", help="with --master: interface to listen on")
    dist.add_argument("--master-bind-port", type=int, default=5557, help="with --master: port to listen on")
    dist.add_argument("--worker", action="store_true", help="be a worker of a master on another machine")
    dist.add_argument("--master-host", default="127.0.0.1", help="with --worker: the master's address")
    dist.add_argument("--master-port", type=int, default=5557, help="with --worker: the master's port")
    return p


def check(args: argparse.Namespace) -> None:
    """Refuse bad options before starting anything."""
    if args.users < 1 or args.duration <= 0 or args.workers < 0 or args.ramp_up < 0 or args.think < 0:
        raise UsageError("--users must be at least 1, --duration positive, --workers and times not negative")
    if args.master and args.worker:
        raise UsageError("give --master or --worker, not both")
    if args.secret and args.key:
        raise UsageError("give --secret or --key, not both")
    if not urlsplit(args.url).scheme.startswith("ws"):
        raise UsageError(f"--url must be ws:// or wss://, not {args.url!r}")
    if args.scenario not in BUILTIN_SCENARIOS:
        path = Path(args.scenario.split(":", 1)[0] if not Path(args.scenario).exists() else args.scenario)
        if path.suffix != ".py" or not path.is_file():
            raise UsageError(f"--scenario must be one of {', '.join(BUILTIN_SCENARIOS)} or a .py file, "
                             f"not {args.scenario!r}")
    for option, path in (("--key", args.key), ("--script", args.script)):
        if path is not None and not path.is_file():
            raise UsageError(f"{option}: no such file: {path}")
    try:
        claims = json.loads(args.claims) if args.claims else {}
    except ValueError as err:
        raise UsageError(f"--claims is not valid JSON: {err}") from None
    if not isinstance(claims, dict):
        raise UsageError("--claims expects a JSON object")
    if args.secret or args.key:
        try:
            TokenMinter.create(alg=args.alg, secret=args.secret, pem=args.key.read_text() if args.key else None,
                               claims=claims)
        except (TokenError, OSError) as err:
            raise UsageError(f"cannot sign tokens with the given key: {err}") from None


def locust_command(args: argparse.Namespace, summary: Path | None, extra: Sequence[str]) -> list[str]:
    """The Locust command line for these options."""
    # Locust's own tables and info log stay quiet (we print ours); warnings still reach stderr
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--skip-log-setup"]
    if args.worker:
        cmd += ["--worker", "--master-host", args.master_host, "--master-port", str(args.master_port)]
        if args.workers:
            cmd += ["--processes", str(args.workers)]
        return cmd + list(extra)
    rate = args.users / args.ramp_up if args.ramp_up > 0 else args.users
    # headless runs end through --qix-run-time (every answered call counted); the web UI keeps Locust's -t,
    # which stops the test and leaves the UI up
    ending = ["-t", f"{args.duration:g}s"] if args.web else ["--qix-run-time", f"{args.duration:g}"]
    cmd += ["-H", args.url, "-u", str(args.users), "-r", f"{rate:g}", *ending, "--stop-timeout", "0", "--only-summary",
            "--scenario", args.scenario, "--think", f"{args.think:g}", "--timeout", f"{args.timeout:g}",
            "--max-requests", str(max(0, args.max_requests)), "--user-prefix", args.user_prefix,
            "--groups", args.groups, "--claims", args.claims, "--fields", args.fields,
            "--dashboard-rows", str(args.dashboard_rows), "--sample-every", f"{args.sample_every:g}",
            "--seed", str(args.seed)]
    for flag, value in (("--secret", args.secret), ("--key", args.key), ("--alg", args.alg), ("--app", args.app),
                        ("--script", args.script), ("--measure", args.measure), ("--metrics-url", args.metrics_url),
                        ("--qix-summary", summary), ("--qix-html", args.html)):
        if value is not None:
            cmd += [flag, str(value)]
    for flag, on in (("--insecure", args.insecure), ("--reconnect", args.reconnect)):
        if on:
            cmd.append(flag)
    if not (args.quiet or args.json):
        cmd.append("--qix-status")
    if args.web:
        cmd += ["--autostart", "--web-host", "127.0.0.1", "--web-port", str(args.web_port)]
    else:
        cmd.append("--headless")
    if args.master:
        cmd += ["--master", "--expect-workers", str(args.expect_workers),
                "--master-bind-host", args.master_bind_host, "--master-bind-port", str(args.master_bind_port)]
    elif args.workers:
        # the master and its forked workers talk over a port of their own on loopback (Locust's default, 5557
        # on every interface, would collide with any other run on this machine)
        port = free_port()
        cmd += ["--processes", str(args.workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                "--master-host", "127.0.0.1", "--master-port", str(port)]
    return cmd + list(extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(cmd: Sequence[str], quiet: bool) -> int:
    """Run Locust; its own tables go nowhere (we print ours), its log to stderr unless quiet."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # --web: Ctrl-C reached Locust too; let it write its summary
        return proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    args = build_parser().parse_args(argv)
    try:
        check(args)
    except UsageError as err:
        print(f"loadtest.py: {err}", file=sys.stderr)
        return 2
    if args.worker:
        return run(locust_command(args, None, extra), args.quiet)
    with tempfile.TemporaryDirectory(prefix="qixload-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        code = run(locust_command(args, summary_path, extra), args.quiet)
        if not summary_path.exists():
            print(f"loadtest.py: Locust ended (exit {code}) without a summary", file=sys.stderr)
            return 2 if code == 2 else 1
        summary = json.loads(summary_path.read_text())
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    failed = (sum(summary["errors"].values()) + sum(summary["handshakes"]["refused"].values())
              + summary["users_failed"])
    return 1 if failed or summary["requests"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
