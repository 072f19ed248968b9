"""The run's summary (one JSON document), the latency table printed at the end, and the HTML report.

The summary is built on the Locust master from its aggregated statistics (read through the few attributes
used here, so this module does not import Locust) and the server samples. The HTML report is one file with
inline SVG charts and no scripts: any browser shows it, with or without Locust installed.
"""

from __future__ import annotations

import datetime
import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from qixload.client import QIX, USER, WS
from qixload.server_figures import ServerSample, figures, series

HANDSHAKE = "(handshake)"


class Entry(Protocol):
    """What is read of a Locust ``StatsEntry``."""

    @property
    def name(self) -> str: ...
    @property
    def method(self) -> str | None: ...
    @property
    def num_requests(self) -> int: ...
    @property
    def num_failures(self) -> int: ...
    @property
    def max_response_time(self) -> float: ...
    @property
    def total_response_time(self) -> float: ...
    @property
    def response_times(self) -> Mapping[Any, int]: ...


class Error(Protocol):
    """What is read of a Locust ``StatsError``."""

    @property
    def method(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def error(self) -> Any: ...
    @property
    def occurrences(self) -> int: ...


def percentiles(response_times: Mapping[Any, int], wanted: Sequence[float] = (0.5, 0.95, 0.99)) -> list[float]:
    """Percentiles from a histogram of times, by Locust's rule (so the table agrees with Locust's UI): the
    largest time such that at most ``int(fraction * count)`` requests were faster than it."""
    total = sum(response_times.values())
    if not total:
        return [0.0] * len(wanted)
    out = []
    descending = sorted(response_times.items(), reverse=True)
    for fraction in wanted:
        allowed, processed = int(total * fraction), 0
        for value, count in descending:
            processed += count
            if total - processed <= allowed:
                out.append(float(value))
                break
    return out


def _ms(value: float) -> float:
    return round(value, 3) if value < 10 else round(value, 1)


def _method_row(entry: Entry) -> dict[str, Any]:
    top = entry.max_response_time or 0.0
    # times are kept to two significant digits, so a rounded-up bucket can pass the exact maximum
    p50, p95, p99 = (min(p, top) for p in percentiles(entry.response_times))
    return {"count": entry.num_requests, "errors": entry.num_failures, "p50_ms": _ms(p50), "p95_ms": _ms(p95),
            "p99_ms": _ms(p99), "max_ms": _ms(top),
            "avg_ms": _ms(entry.total_response_time / entry.num_requests) if entry.num_requests else 0.0}


def _label(error: str) -> str:
    """An error's code: what its text says before the first colon (see QixFailure's repr)."""
    return error.split(":", 1)[0].strip()


def summarize(*, entries: Iterable[Entry], errors: Iterable[Error], history: Sequence[Mapping[str, float]],
              samples: Sequence[ServerSample], url: str, scenario: str, users: int, workers: int,
              started: float, ended: float, ramp_end: float | None, warmup: float = 60.0) -> dict[str, Any]:
    """The run in one JSON-ready document (the shape scripts/loadtest.py prints with ``--json``). ``history``
    holds a point a second: ``t`` (seconds since the start), ``users``, ``rps``, ``fail_per_s``, ``p50_ms``,
    ``p95_ms``, ``p99_ms``. ``reconnects`` times the way back from a lost connection to working again
    (``--reconnect``); ``users_failed`` counts users that stopped before the run ended."""
    methods: dict[str, dict[str, Any]] = {}
    merged: Counter[float] = Counter()
    requests = 0
    max_ms = 0.0
    handshake: dict[str, Any] | None = None
    reconnects = {"count": 0, "p50_ms": 0.0, "max_ms": 0.0}
    users_failed = 0
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.method == QIX:
            methods[entry.name] = _method_row(entry)
            merged.update(entry.response_times)
            requests += entry.num_requests
            max_ms = max(max_ms, entry.max_response_time or 0.0)
        elif entry.method == WS:
            handshake = _method_row(entry)
        elif entry.method == USER and entry.name == "reconnect":
            row = _method_row(entry)
            reconnects = {"count": row["count"], "p50_ms": row["p50_ms"], "max_ms": row["max_ms"]}
        elif entry.method == USER and entry.name == "stopped":
            users_failed = entry.num_requests
    if handshake is not None:
        methods[HANDSHAKE] = handshake
    by_code: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    failures = []
    for error in errors:
        label = _label(str(error.error))
        (refused if error.method == WS else by_code)[label] += error.occurrences
        failures.append({"type": error.method, "name": error.name, "error": str(error.error),
                         "count": error.occurrences})
    elapsed = max(ended - started, 1e-9)
    p50, p95, p99 = (min(p, max_ms) for p in percentiles(merged))
    ok_handshakes = (handshake["count"] - handshake["errors"]) if handshake else 0
    return {
        "url": url, "scenario": scenario, "users": users, "workers": workers,
        "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": round(elapsed, 2), "requests": requests, "throughput_rps": round(requests / elapsed, 1),
        "latency": {"p50_ms": _ms(p50), "p95_ms": _ms(p95), "p99_ms": _ms(p99), "max_ms": _ms(max_ms)},
        "methods": methods, "errors": dict(by_code), "failures": failures,
        "handshakes": {"ok": ok_handshakes, "refused": dict(refused)},
        "reconnects": reconnects, "users_failed": users_failed,
        "server": figures(samples, ramp_end, warmup) if samples else {},
        "server_series": series(samples),
        "history": [dict(point) for point in history],
    }


# ---------------------------------------------------------------------------------------------- text

def _server_line(srv: Mapping[str, float]) -> str:
    parts = []
    if "cpu_seconds" in srv and "requests" in srv:
        parts.append(f"CPU {srv['cpu_seconds']:.2f} s for {srv['requests']:.0f} requests")
    if "cpu_ms_per_request" in srv:
        parts.append(f"{srv['cpu_ms_per_request']:.3f} ms CPU per request")
    if "rss_kib_per_session" in srv:
        parts.append(f"RSS {srv['rss_kib_per_session']:.1f} KiB per added session")
    if "sessions_peak" in srv:
        parts.append(f"{srv['sessions_peak']:.0f} sessions at peak")
    if "rss_peak_mib" in srv:
        parts.append(f"RSS peak {srv['rss_peak_mib']:.1f} MiB")
    if "cache_hit_rate" in srv:
        parts.append(f"cache hit rate {100 * srv['cache_hit_rate']:.1f}%")
    if "rss_growth_mib_per_min" in srv:
        late = srv.get("rss_growth_late_mib_per_min")
        parts.append(f"RSS after warm-up {srv['rss_growth_mib_per_min']:+.2f} MiB/min"
                     + (f" ({late:+.2f} in its second half)" if late is not None else ""))
    return "server: " + "; ".join(parts) if parts else ""


def format_table(s: Mapping[str, Any]) -> str:
    """The summary as the latency table people read at the end of a run."""
    lat = s["latency"]
    lines = [f"{s['scenario']} scenario, {s['users']} users, {s['workers']} worker(s), {s['duration_s']} s: "
             f"{s['requests']} requests, {s['throughput_rps']} req/s; "
             f"latency p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms", ""]
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
    users = _users_line(s)
    if users:
        lines.append(users)
    server = _server_line(s.get("server") or {})
    if server:
        lines.append(server)
    return "\n".join(lines)


def _users_line(s: Mapping[str, Any]) -> str:
    """Reconnects and users that could not go on; empty when the run had neither."""
    r = s.get("reconnects") or {"count": 0}
    failed = s.get("users_failed", 0)
    if not r["count"] and not failed:
        return ""
    times = f" (back at work after p50 {r['p50_ms']} ms, max {r['max_ms']} ms)" if r["count"] else ""
    return f"reconnects: {r['count']}{times}; users that could not continue: {failed}"


# ---------------------------------------------------------------------------------------------- HTML

COLORS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    return next(step * exp for step in (1, 2, 2.5, 5, 10) if value <= step * exp * (1 + 1e-9))


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def svg_chart(title: str, xs: Sequence[float], lines: Mapping[str, Sequence[float | None]], unit: str = "",
              width: int = 520, height: int = 200, zero: bool = True, ceiling: float | None = None) -> str:
    """A line chart as inline SVG: one polyline per series (gaps where a value is None), y from zero unless
    ``zero`` is false, up to ``ceiling`` when given and not passed (a percentage: 100)."""
    left, right, top, bottom = 56, 12, 28, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for ys in lines.values() for v in ys if v is not None]
    if not xs or not values:
        return (f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
                f'<p class="empty">no data from this engine</p></figure>')
    x_max = max(xs) or 1.0
    y_max = ceiling if ceiling is not None and max(values) <= ceiling else _nice_max(max(values) * 1.05)
    y_min = 0.0
    if not zero:  # fit the data: small changes (RSS over a soak) would be flat against a zero-based axis
        spread = max(values) - min(values)
        step = _nice_max(max(spread, abs(max(values)) * 0.01) / 4)
        y_min = math.floor(min(values) / step) * step
        y_max = y_min + 4 * step
        while y_max < max(values):
            y_max += step

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h * (1 - (y - y_min) / (y_max - y_min))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">']
    for i in range(5):
        y = y_min + (y_max - y_min) * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>'
                     f'<text x="{left - 4}" y="{py(y) + 4:.1f}" class="ylab">{_fmt(y)}</text>')
    x_step = _nice_max(x_max / 6)
    for i in range(int(x_max / x_step) + 1):
        x = i * x_step
        parts.append(f'<text x="{px(x):.1f}" y="{height - 8}" class="xlab">{_fmt(x)} s</text>')
    legend_x = left
    for color, (name, ys) in zip(COLORS, lines.items(), strict=False):
        segments: list[list[str]] = [[]]
        for x, point in zip(xs, ys, strict=False):
            if point is None:
                segments.append([])
            else:
                segments[-1].append(f"{px(x):.1f},{py(point):.1f}")
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
            elif seg:
                parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        parts.append(f'<rect x="{legend_x}" y="8" width="10" height="10" fill="{color}"/>'
                     f'<text x="{legend_x + 14}" y="17" class="legend">{html.escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    parts.append("</svg>")
    caption = f"{title} ({unit})" if unit else title
    return f'<figure class="chart"><figcaption>{html.escape(caption)}</figcaption>{"".join(parts)}</figure>'


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


SERVER_LABELS = {
    "requests": ("requests answered (engine's count)", "{:,.0f}"),
    "cpu_seconds": ("engine CPU over the run", "{:.2f} s"),
    "cpu_ms_per_request": ("CPU per request", "{:.3f} ms"),
    "sessions_peak": ("active sessions at peak", "{:,.0f}"),
    "rss_start_mib": ("RSS at start", "{:.1f} MiB"),
    "rss_peak_mib": ("RSS at peak", "{:.1f} MiB"),
    "rss_end_mib": ("RSS at end", "{:.1f} MiB"),
    "rss_kib_per_session": ("RSS per added session (start to end of ramp)", "{:.1f} KiB"),
    "rss_kib_per_session_marginal": ("RSS per added session (mid-ramp to end of ramp)", "{:.1f} KiB"),
    "cache_hit_rate": ("cache hit rate", "{:.1%}"),
    "rss_growth_mib_per_min": ("RSS growth after warm-up (least squares)", "{:+.3f} MiB/min"),
    "rss_growth_late_mib_per_min": ("RSS growth, second half of that", "{:+.3f} MiB/min"),
    "rss_after_warmup_first_mib": ("RSS, first sample after warm-up", "{:.1f} MiB"),
    "rss_after_warmup_last_mib": ("RSS, last sample", "{:.1f} MiB"),
    "rss_after_warmup_samples": ("samples after warm-up", "{:.0f}"),
}


def server_rows(server: Mapping[str, float]) -> list[tuple[str, str]]:
    """The server figures as (label, formatted value), in a fixed order; shared by the web UI tab."""
    return [(label, fmt.format(server[key])) for key, (label, fmt) in SERVER_LABELS.items() if key in server]


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1120px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555}.grid-charts{display:flex;flex-wrap:wrap;gap:8px}
figure.chart{margin:0;border:1px solid #e5e5e5;border-radius:4px;padding:4px}
figcaption{font-weight:600;font-size:13px;padding:2px 4px}.empty{color:#888;margin:8px;width:500px}
svg .grid{stroke:#eee}svg text{font-size:11px;fill:#555}svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}
svg .legend{font-size:11px;fill:#222}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f5f5f5}
"""


def render_html(s: Mapping[str, Any]) -> str:
    """The whole report: headline figures, charts over time (load and server), tables."""
    lat = s["latency"]
    hist = s.get("history") or []
    xs = [row["t"] for row in hist]
    load_charts = [
        svg_chart("Users", xs, {"users": [row["users"] for row in hist]}),
        svg_chart("Requests per second", xs, {"req/s": [row["rps"] for row in hist]}),
        svg_chart("Response time, last 10 s", xs, {p: [row[f"{p}_ms"] for row in hist] for p in ("p50", "p95", "p99")},
                  "ms"),
        svg_chart("Errors per second", xs, {"errors/s": [row["fail_per_s"] for row in hist]}),
    ]
    srv_rows = s.get("server_series") or []
    sx = [row["t"] for row in srv_rows]
    server_charts = [
        svg_chart("Engine CPU per request", sx, {"CPU ms/request": [r["cpu_ms_per_request"] for r in srv_rows]},
                  "ms"),
        svg_chart("Engine RSS", sx, {"RSS": [r["rss_mib"] for r in srv_rows]}, "MiB", zero=False),
        svg_chart("Active sessions", sx, {"sessions": [r["sessions"] for r in srv_rows]}),
        svg_chart("RSS per added session", sx, {"KiB/session": [r["rss_kib_per_session"] for r in srv_rows]},
                  "KiB"),
        svg_chart("Cache hit rate", sx, {"hit rate %": [None if r["cache_hit_rate"] is None
                                                        else 100 * r["cache_hit_rate"] for r in srv_rows]}, "%",
                  ceiling=100.0),
    ]
    errors = sum(s["errors"].values())
    refused = sum(s["handshakes"]["refused"].values())
    headline = _table(("figure", "value"), [
        ("engine", s["url"]), ("started (UTC)", s.get("started", "")), ("duration", f"{s['duration_s']} s"),
        ("users / workers", f"{s['users']} / {s['workers']}"), ("requests", f"{s['requests']:,}"),
        ("throughput", f"{s['throughput_rps']} req/s"),
        ("latency p50 / p95 / p99 / max", f"{lat['p50_ms']} / {lat['p95_ms']} / {lat['p99_ms']} / {lat['max_ms']} ms"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items())) or "none"),
        ("handshakes", f"{s['handshakes']['ok']} ok, {refused} refused"),
        *([("users", _users_line(s))] if _users_line(s) else []),
    ])
    methods = _table(("request", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms", "avg ms"),
                     [(name, m["count"], m["errors"], m["p50_ms"], m["p95_ms"], m["p99_ms"], m["max_ms"], m["avg_ms"])
                      for name, m in s["methods"].items()])
    server = s.get("server") or {}
    server_table = (_table(("server figure", "value"), server_rows(server)) if server
                    else "<p class='meta'>No server figures: neither /metrics nor /healthcheck answered.</p>")
    failures = (_table(("type", "request", "error", "count"),
                       [(f["type"], f["name"], f["error"], f["count"]) for f in s.get("failures", [])])
                if s.get("failures") else "<p class='meta'>No failures.</p>")
    title = f"QIX load test: {s['scenario']} scenario, {s['users']} users"
    status = "no errors" if not errors and not refused else f"{errors} errors, {refused} refused handshakes"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">{html.escape(status)}. Made by scripts/loadtest.py (Locust); every chart is inline SVG.</p>
{headline}
<h2>Load over time</h2>
<div class="grid-charts">{"".join(load_charts)}</div>
<h2>Server figures (engine /metrics and /healthcheck)</h2>
{server_table}
<div class="grid-charts">{"".join(server_charts)}</div>
<h2>Requests</h2>
{methods}
<h2>Failures</h2>
{failures}
</body></html>
"""
