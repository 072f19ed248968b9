"""The QIX options of a run: added to Locust's command line, read back as one frozen :class:`LoadSettings`.

Locust hands custom options from the master to its workers when it starts them, so workers on other
machines need no flags of their own. Files named by options (``--key``, ``--script``) are read on the
master and their text travels with the options (``key_pem``, ``script_text``): a worker elsewhere need not
have them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qixload.tokens import TokenMinter

SCENARIOS = ("light", "full", "dashboard")


class OptionError(ValueError):
    """A bad option value; one line for the user."""


def add_arguments(parser: Any) -> None:
    """Add the QIX options to Locust's parser (Locust's own keywords say which show in the web UI's form)."""
    add = parser.add_argument
    add("--scenario", default="full",
                       help="light, full, dashboard, or a Python file defining a QixTasks subclass "
                            "(path.py or path.py:ClassName)")
    add("--think", type=float, default=1.0, help="mean think time between steps, seconds")
    add("--secret", default=None, is_secret=True, help="HMAC secret: sign tokens with HS256")
    add("--key", default=None, include_in_web_ui=False, help="PEM private key file: sign tokens with RS256/ES256")
    add("--alg", default=None, help="token algorithm (default from --secret or --key)")
    add("--user-prefix", default="loaduser", help="sub of user n is <prefix><n>")
    add("--groups", default="", help="comma-separated groups claim for every user")
    add("--claims", default="", help='extra claims as a JSON object, e.g. \'{"roles": ["a"]}\'')
    add("--app", default=None, help="app id every user opens (default: as the scenario says)")
    add("--script", default=None, include_in_web_ui=False, help="load script file (see README)")
    add("--fields", default="", help="full scenario: comma-separated fields to chart")
    add("--measure", default=None, help="full scenario: hypercube measure")
    add("--dashboard-rows", type=int, default=100_000, help="rows of the generated dashboard app")
    add("--metrics-url", default=None,
                       help="engine /metrics URL (default http://<engine host>:9090/metrics; 'off' for none)")
    add("--sample-every", type=float, default=2.0, help="seconds between server samples")
    add("--insecure", action="store_true", default=False,
                       help="wss:// without checking the engine's certificate")
    add("--timeout", type=float, default=30.0, help="seconds before a call counts as failed")
    add("--reconnect", action="store_true", default=False,
        help="a user whose socket is lost connects again (within --timeout), reopens its app and goes on; "
             "without it that user stops")
    add("--max-requests", type=int, default=0, help="stop after this many QIX calls (0 = no cap)")
    add("--qix-summary", default=None, include_in_web_ui=False, help="write the run's summary as JSON to this file")
    add("--qix-html", default=None, include_in_web_ui=False, help="write the HTML report (readable without Locust) here")
    add("--qix-run-time", type=float, default=0.0, include_in_web_ui=False,
        help="seconds from the start of the test to its end, every answered call counted (unlike -t, which "
             "quits a master before its workers' last reports)")
    add("--qix-status", action="store_true", default=False, include_in_web_ui=False,
        help="print a progress line every two seconds on stderr")
    add("--seed", type=int, default=1, help="seed of the users' random choices")


@dataclass(frozen=True)
class LoadSettings:
    """Everything a user needs, built once per process from Locust's parsed options."""

    url: str
    scenario: str
    think: float
    user_prefix: str
    minter: TokenMinter | None
    app: str | None
    script: str | None
    fields: tuple[str, ...]
    measure: str | None
    dashboard_rows: int
    metrics_url: str | None
    sample_every: float
    insecure: bool
    timeout: float
    max_requests: int
    seed: int
    reconnect: bool = False

    @classmethod
    def from_options(cls, options: argparse.Namespace, host: str | None) -> LoadSettings:
        url = host or "ws://127.0.0.1:9076"
        if not url.startswith(("ws://", "wss://")):
            raise OptionError(f"the engine URL (--host) must be ws:// or wss://, not {url!r}")
        if options.think < 0 or options.timeout <= 0 or options.max_requests < 0 or options.sample_every <= 0:
            raise OptionError("--think and --max-requests must not be negative, --timeout and --sample-every "
                              "must be positive")
        if options.secret and options.key:
            raise OptionError("give --secret or --key, not both")
        try:
            claims = json.loads(options.claims) if options.claims else {}
        except ValueError as err:
            raise OptionError(f"--claims is not valid JSON: {err}") from None
        if not isinstance(claims, dict):
            raise OptionError("--claims expects a JSON object")
        pem = getattr(options, "key_pem", None) or (_read(options.key, "--key") if options.key else None)
        minter = None
        if options.secret or pem:
            minter = TokenMinter.create(alg=options.alg, secret=options.secret or None, pem=pem,
                                        groups=[g for g in options.groups.split(",") if g], claims=claims)
        script = getattr(options, "script_text", None) or (
            _read(options.script, "--script") if options.script else None)
        metrics = options.metrics_url
        if metrics is None:
            from qixload.server_figures import default_metrics_url
            metrics = default_metrics_url(url)
        return cls(url=url, scenario=options.scenario, think=options.think, user_prefix=options.user_prefix,
                   minter=minter, app=options.app or None, script=script,
                   fields=tuple(f for f in options.fields.split(",") if f), measure=options.measure,
                   dashboard_rows=options.dashboard_rows,
                   metrics_url=None if metrics in ("off", "") else metrics, sample_every=options.sample_every,
                   insecure=options.insecure, timeout=options.timeout, max_requests=options.max_requests,
                   seed=options.seed, reconnect=bool(getattr(options, "reconnect", False)))

    def token(self, sub: str) -> str | None:
        return self.minter.mint(sub) if self.minter else None


def carry_files(options: argparse.Namespace) -> None:
    """On the master: put the text of ``--key`` and ``--script`` into the options sent to workers."""
    if options.key and not getattr(options, "key_pem", None):
        options.key_pem = _read(options.key, "--key")
    if options.script and not getattr(options, "script_text", None):
        options.script_text = _read(options.script, "--script")


def _read(path: str, option: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as err:
        raise OptionError(f"{option}: {err.strerror}: {path}") from None
