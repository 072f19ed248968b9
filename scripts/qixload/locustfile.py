"""Locust entry point for QIX load tests.

    locust -f scripts/qixload/locustfile.py -H ws://127.0.0.1:9076 --headless -u 200 -r 20 -t 60s \\
        --scenario dashboard --secret passw0rd --qix-html report.html

scripts/loadtest.py builds such a command line from its own options. This file only wires the qixload
modules into Locust's events: options, the user class and its scenario, the app prepared once before the run,
the server sampler, the budget of ``--max-requests``, the web UI tab, and the summary and HTML report
written when Locust quits. Everything per-process (settings, scenario, numbering) is set at test start,
after a worker has received the master's options.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

# The qixload package lives in scripts/. Append, never prepend: scripts/token.py would shadow the standard
# library's ``token`` module (and with it inspect, dataclasses, orjson's import).
_SCRIPTS = str(Path(__file__).resolve().parent.parent)
if _SCRIPTS not in sys.path:
    sys.path.append(_SCRIPTS)

import gevent  # noqa: E402
import orjson  # noqa: E402
from locust import argument_parser as locust_arguments  # noqa: E402
from locust import events  # noqa: E402
from locust import runners as locust_runners  # noqa: E402
from locust import stats as locust_stats  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from qixload import report, server_figures, webui  # noqa: E402
from qixload.client import Budget, QixFailure  # noqa: E402
from qixload.options import LoadSettings, OptionError, add_arguments, carry_files  # noqa: E402
from qixload.scenarios import Full, ScenarioError, prepare, resolve  # noqa: E402
from qixload.tokens import TokenError  # noqa: E402
from qixload.user import QixUser  # noqa: E402

log = logging.getLogger("qixload")
BUDGET_SPENT = "qix_budget_spent"  # worker -> master: this worker's share of --max-requests is used up


def two_significant_digits(response_time: float) -> float:
    """Locust's documented hook for response-time buckets, at two significant digits all the way down: QIX
    calls take fractions of a millisecond, which Locust's default (whole milliseconds below 100) rounds away."""
    if response_time <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(response_time)) - 1)
    return round(round(response_time / step) * step, 6)


# Locust 2.47's worker computes its default options (building its whole argument parser) once per option
# of every spawn message; with this file's options that blocks a worker's loop for seconds per message while
# users ramp up, and the master declares it missing. The defaults never change within a process: build once.
locust_arguments.default_args_dict = functools.cache(locust_arguments.default_args_dict)
locust_stats.bucket_response_time = two_significant_digits  # type: ignore[assignment]  # float keys work
locust_stats.PERCENTILES_TO_CHART = [0.5, 0.95, 0.99]


class QixLoadUser(QixUser):
    """The user Locust runs; its scenario is set from ``--scenario`` at test start."""

    tasks = [Full]


class Run:
    """This process's view of the current run (the master's, or the only process's)."""

    environment: Environment | None = None
    settings: LoadSettings | None = None
    scenario_name = "full"
    sampler: server_figures.Sampler | None = None
    started = 0.0
    ended: float | None = None
    ramp_end: float | None = None
    workers = 0
    spent_workers: set[str] = set()
    history: list[dict[str, float]] = []  # one point a second, see _monitor
    monitor: Any = None  # the greenlet recording history (and printing --qix-status lines)


def _options(environment: Environment) -> Any:
    return environment.parsed_options


def _settings(environment: Environment) -> LoadSettings:
    return LoadSettings.from_options(_options(environment), environment.host)


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    # gevent's loop caches "now" and the imports since it was created took a while: Locust's --run-time timer,
    # started right after this event, would count from that stale time and end the run early.
    gevent.get_hub().loop.update_now()
    Run.environment = environment
    if isinstance(environment.runner, WorkerRunner) or _options(environment) is None:
        return
    try:
        carry_files(_options(environment))
        _settings(environment)
        resolve(_options(environment).scenario)
    except (OptionError, TokenError, ScenarioError) as err:
        sys.stderr.write(f"qixload: {err}\n")
        sys.exit(2)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(BUDGET_SPENT, _on_budget_spent)
    if environment.web_ui is not None:
        webui.install(environment.web_ui, figures_now=_figures_now, latest=_latest, samples=_samples,
                      summary=_summary)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    settings = _settings(environment)
    scenario = resolve(settings.scenario)
    QixLoadUser.settings = settings
    QixLoadUser.tasks = [scenario]
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        count = max(1, int(getattr(_options(environment), "expect_workers", 1) or 1))
        index = max(0, runner.worker_index)
        if count <= index:
            count = index + 1
        QixLoadUser.numbering = (index, count)
        share = settings.max_requests // count + (1 if index < settings.max_requests % count else 0)
    else:
        QixLoadUser.numbering = (0, 1)
        share = settings.max_requests
    QixLoadUser.budget = None
    if settings.max_requests:
        QixLoadUser.budget = Budget(share, lambda: gevent.spawn(_end_when_settled, environment))
        if share == 0:
            gevent.spawn(_end_when_settled, environment)
    if isinstance(runner, WorkerRunner):
        return
    Run.settings, Run.scenario_name = settings, settings.scenario
    Run.workers = int(getattr(_options(environment), "expect_workers", 0) or 0) \
        if isinstance(runner, MasterRunner) else 0
    Run.spent_workers = set()
    try:
        prepared = prepare(settings, scenario)
    except QixFailure as err:  # no app to open: say why once, end the run (users would only fail)
        sys.stderr.write(f"qixload: preparing the app failed: {err}\n")
        environment.process_exit_code = 1
        gevent.spawn(_finish, environment)
        prepared = None
    if prepared:
        log.info("prepared app %s", prepared)
    Run.sampler = server_figures.Sampler(settings.metrics_url, server_figures.health_url(settings.url),
                                         settings.sample_every)
    Run.sampler.start()
    Run.started, Run.ended, Run.ramp_end = time.time(), None, None
    Run.history = []
    run_time = _options(environment).qix_run_time
    if run_time:
        gevent.spawn(_finish, environment, run_time)
    if Run.monitor is None:
        Run.monitor = gevent.spawn(_monitor, environment, bool(_options(environment).qix_status))


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_: Any) -> None:
    if Run.ramp_end is None and Run.environment is not None \
            and not isinstance(Run.environment.runner, WorkerRunner):
        Run.ramp_end = time.time()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or Run.sampler is None:
        return
    Run.sampler.stop()
    Run.ended = time.time()


@events.quit.add_listener
def _on_quit(exit_code: int, **_: Any) -> None:
    environment = Run.environment
    if environment is None or isinstance(environment.runner, WorkerRunner) or Run.settings is None:
        return
    options = _options(environment)
    if Run.sampler is not None and Run.ended is None:
        Run.sampler.stop()
        Run.ended = time.time()
    elif Run.sampler is not None and isinstance(environment.runner, MasterRunner):
        Run.sampler.take()  # workers finish their last calls after the master's test_stop: count those too
    if Run.monitor is not None:
        Run.monitor.kill(block=False)
        if options.qix_status and sys.stderr.isatty():
            sys.stderr.write("\n")
    summary = _summary()
    if options.qix_summary:
        Path(options.qix_summary).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    if options.qix_html:
        Path(options.qix_html).write_text(report.render_html(summary))


def _monitor(environment: Environment, status: bool) -> None:
    """Once a second: a point of the run's history (users, requests/s and errors/s over the last few
    seconds, response-time percentiles over Locust's 10-second window); with ``status``, a progress line on
    stderr too (refreshed in place on a terminal, else every five seconds)."""
    tty = sys.stderr.isatty()
    # a master hears from its workers every 3 s: average over two reports so the rate does not saw-tooth
    span = 6.0 if isinstance(environment.runner, MasterRunner) else 3.0
    window: deque[tuple[float, int, int]] = deque()
    tick = 0
    while True:
        gevent.sleep(1.0)
        runner = environment.runner
        if runner is None or Run.ended is not None:
            continue
        total = runner.stats.total
        now = time.time()
        window.append((now, total.num_requests, total.num_failures))
        while now - window[0][0] > span:
            window.popleft()
        first_at, first_count, first_fails = window[0]
        elapsed = now - first_at
        point = {"t": round(now - Run.started, 2), "users": float(runner.user_count),
                 "rps": (total.num_requests - first_count) / elapsed if elapsed else 0.0,
                 "fail_per_s": (total.num_failures - first_fails) / elapsed if elapsed else 0.0}
        for p in (0.5, 0.95, 0.99):
            point[f"p{round(p * 100)}_ms"] = float(total.get_current_response_time_percentile(p) or 0.0)
        Run.history.append(point)
        tick += 1
        if status and (tty and tick % 2 == 0 or tick % 5 == 0):
            line = (f"{point['t']:6.1f}s  users {runner.user_count:5d}  requests {total.num_requests:8d}"
                    f"  {point['rps']:7.0f} req/s  errors {total.num_failures}")
            sys.stderr.write(("\r" + line) if tty else line + "\n")
            sys.stderr.flush()


# -- --max-requests -----------------------------------------------------------------------------------------

def _end_when_settled(environment: Environment) -> None:
    """The budget is spent: let the calls in flight finish (so each call sent is counted), then end the run
    here, or on a worker tell the master (which ends the run once every worker has said so)."""
    budget = QixLoadUser.budget
    deadline = time.monotonic() + (Run.settings.timeout if Run.settings else 30.0)
    while budget is not None and budget.in_flight > 0 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(BUDGET_SPENT)
    else:
        _finish(environment)


def _on_budget_spent(environment: Environment, msg: Any, **_: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    Run.spent_workers.add(msg.node_id)
    if len(Run.spent_workers) >= max(1, runner.worker_count):
        gevent.spawn(_finish, environment)


def _finish(environment: Environment, after: float = 0.0) -> None:
    """End the run (after ``after`` seconds) so that every answered call is counted. Locust's own --run-time
    quits a master at once: workers' last reports (sent every few seconds) are lost under load. Here the
    master first stops the workers (waiting until they report no users), then waits for one more report."""
    gevent.sleep(after)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.stop()
        gevent.sleep(locust_runners.WORKER_REPORT_INTERVAL + 1.0)
    if runner is not None:
        runner.quit()


# -- what the web UI and the report read ---------------------------------------------------------------------

def _samples() -> list[server_figures.ServerSample]:
    return list(Run.sampler.samples) if Run.sampler is not None else []


def _figures_now() -> dict[str, float]:
    samples = _samples()
    return server_figures.figures(samples, Run.ramp_end) if len(samples) > 1 else {}


def _latest() -> dict[str, float | None] | None:
    rows = server_figures.series(_samples()[-2:])
    return rows[-1] if rows else None


def _summary() -> dict[str, Any]:
    environment = Run.environment
    assert environment is not None and environment.runner is not None
    stats = environment.runner.stats
    options = _options(environment)
    return report.summarize(
        entries=stats.entries.values(), errors=stats.errors.values(), history=Run.history,
        samples=_samples(), url=Run.settings.url if Run.settings else str(environment.host),
        scenario=Run.scenario_name, users=int(options.num_users or 0), workers=Run.workers,
        started=Run.started or stats.start_time, ended=Run.ended or time.time(), ramp_end=Run.ramp_end)
