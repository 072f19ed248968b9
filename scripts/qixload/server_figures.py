"""What the engine says about itself during a run: ``/metrics`` (Prometheus) and ``/healthcheck``.

Only series a real ``qlikcore/engine`` also exports are needed: ``qix_requests_total``,
``qix_active_sessions`` and ``/healthcheck``'s ``session``, ``mem`` and ``cache`` blocks. ``process_*``
(CPU, RSS) are used when present; without them CPU comes from ``qix_request_cpu_seconds`` if exported, and
memory from ``/healthcheck``'s committed megabytes. A figure whose inputs are missing is left out, never
reported as zero.

The figures (see :func:`figures`): server CPU per request, RSS per session, active sessions, cache hit rate,
and for long runs whether RSS still grows after warm-up. :class:`Sampler` takes samples every few seconds
from a gevent greenlet on the Locust master.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

MIB = 2**20


@dataclass(frozen=True)
class ServerSample:
    """One look at the engine; None where this engine does not export the figure."""

    at: float  # Unix time of the scrape
    cpu_seconds: float | None = None
    rss_bytes: float | None = None
    requests: float | None = None
    sessions: float | None = None
    cache_hits: float | None = None
    cache_lookups: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def health_url(engine_url: str) -> str:
    """``/healthcheck`` on the engine's own port: ``ws://h:p/...`` becomes ``http://h:p/healthcheck``."""
    parts = urlsplit(engine_url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return urlunsplit((scheme, parts.netloc, "/healthcheck", "", ""))


def default_metrics_url(engine_url: str) -> str:
    """``/metrics`` on port 9090 of the engine's host, where the engine serves it by default."""
    host = urlsplit(engine_url).hostname or "127.0.0.1"
    return f"http://{host}:9090/metrics" if ":" not in host else f"http://[{host}]:9090/metrics"


def parse_metrics(text: str) -> dict[str, float]:
    """The sums of the series this module reads, from Prometheus text."""
    wanted = {"process_cpu_seconds_total", "process_resident_memory_bytes", "qix_requests_total",
              "qix_active_sessions", "qix_cache_hits_total", "qix_calc_cache_hits_total",
              "qix_calc_cache_lookups_total", "qix_request_cpu_seconds_sum"}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "qix_requests":  # declared, but a labelled counter has no series before its first use
            values.setdefault("qix_requests_total", 0.0)
        for sample in family.samples:
            if sample.name in wanted:  # per-method series of a counter add up
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def sample_from(at: float, metrics: dict[str, float] | None, health: dict[str, Any] | None) -> ServerSample:
    """Combine a metrics scrape and a healthcheck into one sample, preferring the metrics where both say it."""
    metrics = metrics or {}
    health = health or {}
    session = health.get("session") or {}
    cache = health.get("cache") or {}
    mem = health.get("mem") or {}
    cpu = metrics.get("process_cpu_seconds_total", metrics.get("qix_request_cpu_seconds_sum"))
    rss = metrics.get("process_resident_memory_bytes")
    if rss is None and isinstance(mem.get("committed"), int | float):
        rss = float(mem["committed"]) * MIB
    sessions = metrics.get("qix_active_sessions", session.get("active"))
    hits, lookups = _cache_counts(metrics, cache)
    return ServerSample(at, cpu, rss, metrics.get("qix_requests_total"),
                        None if sessions is None else float(sessions), hits, lookups)


def _cache_counts(metrics: dict[str, float], cache: dict[str, Any]) -> tuple[float | None, float | None]:
    """Cache hits and lookups, both from one source so their ratio means something: ``/healthcheck``'s
    ``cache`` block (Qlik's engines and this one), else this engine's ``qix_calc_cache_*`` counters, else
    hits alone (``qix_cache_hits_total``, which a qlikcore/engine exports without a lookup count)."""
    if _number(cache.get("hits")) and _number(cache.get("lookups")):
        return float(cache["hits"]), float(cache["lookups"])
    if "qix_calc_cache_hits_total" in metrics and "qix_calc_cache_lookups_total" in metrics:
        return metrics["qix_calc_cache_hits_total"], metrics["qix_calc_cache_lookups_total"]
    hits = metrics.get("qix_cache_hits_total", cache.get("hits"))
    return (float(hits) if _number(hits) else None), None


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _get(url: str, timeout: float) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body: bytes = resp.read()
            return body
    except (OSError, ValueError):
        return None


def scrape(metrics_url: str | None, healthcheck_url: str | None, timeout: float = 5.0) -> ServerSample | None:
    """One sample; None when neither endpoint answers (the run goes on without server figures)."""
    at = time.time()
    text = _get(metrics_url, timeout) if metrics_url else None
    body = _get(healthcheck_url, timeout) if healthcheck_url else None
    metrics = None
    if text is not None:
        try:
            metrics = parse_metrics(text.decode())
        except ValueError:
            metrics = None
    health = None
    if body is not None:
        try:
            doc = json.loads(body)
            health = doc if isinstance(doc, dict) else None
        except ValueError:
            health = None
    if metrics is None and health is None:
        return None
    return sample_from(at, metrics, health)


# ---------------------------------------------------------------------------------------------- figures

def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _at_or_before(samples: Sequence[ServerSample], at: float) -> ServerSample | None:
    before = [s for s in samples if s.at <= at]
    return before[-1] if before else None


def figures(samples: Sequence[ServerSample], ramp_end: float | None = None, warmup: float = 60.0) -> dict[str, float]:
    """The run's server figures from its samples (the first is taken before any user starts).

    * ``cpu_ms_per_request``: engine CPU over the run / requests it answered over the run;
    * ``rss_kib_per_session``: RSS growth from the start to the end of the ramp (``ramp_end``, Unix time)
      divided by the sessions added; ``rss_kib_per_session_marginal`` the same from mid-ramp to the end of
      the ramp, where one-time costs (imports, pools, caches) are already paid;
    * ``sessions_peak``, ``rss_peak_mib``; ``cache_hit_rate`` over the run when the engine counts lookups;
    * ``rss_growth_mib_per_min``: the least-squares slope of RSS over samples taken ``warmup`` seconds or
      more after the ramp, and ``rss_growth_late_mib_per_min`` over the second half of those: a leak shows
      as a slope that stays above zero in both.
    """
    if len(samples) < 2:
        return {}
    first, last = samples[0], samples[-1]
    out: dict[str, float] = {}
    requests = _delta(first.requests, last.requests)
    cpu = _delta(first.cpu_seconds, last.cpu_seconds)
    if requests is not None:
        out["requests"] = requests
    if cpu is not None:
        out["cpu_seconds"] = cpu
        if requests:
            out["cpu_ms_per_request"] = 1000 * cpu / requests
    sessions = [s.sessions for s in samples if s.sessions is not None]
    if sessions:
        out["sessions_peak"] = max(sessions)
    rss = [s.rss_bytes for s in samples if s.rss_bytes is not None]
    if rss:
        out["rss_start_mib"], out["rss_end_mib"], out["rss_peak_mib"] = rss[0] / MIB, rss[-1] / MIB, max(rss) / MIB
    hits, lookups = _delta(first.cache_hits, last.cache_hits), _delta(first.cache_lookups, last.cache_lookups)
    if hits is not None and lookups:
        out["cache_hit_rate"] = hits / lookups
    if ramp_end is not None:
        out.update(_per_session(samples, ramp_end))
        out.update(_growth(samples, ramp_end + warmup))
    return out


def _rss_per_session(a: ServerSample | None, b: ServerSample | None) -> float | None:
    if a is None or b is None or a is b:
        return None
    rss, added = _delta(a.rss_bytes, b.rss_bytes), _delta(a.sessions, b.sessions)
    return None if rss is None or not added or added <= 0 else rss / 1024 / added


def _per_session(samples: Sequence[ServerSample], ramp_end: float) -> dict[str, float]:
    out: dict[str, float] = {}
    start = samples[0]
    end = _at_or_before(samples, ramp_end)
    mid = _at_or_before(samples, start.at + (ramp_end - start.at) / 2)
    whole = _rss_per_session(start, end)
    if whole is not None:
        out["rss_kib_per_session"] = whole
    marginal = _rss_per_session(mid, end)
    if marginal is not None:
        out["rss_kib_per_session_marginal"] = marginal
    return out


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute."""
    n = len(points)
    if n < 3:
        return None
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def _growth(samples: Sequence[ServerSample], after: float) -> dict[str, float]:
    """RSS slope after warm-up, over all those samples and over their second half: caches and allocator
    pools that fill up early show in the first and fade in the second; a leak stays in both."""
    points = [(s.at, s.rss_bytes / MIB) for s in samples if s.at >= after and s.rss_bytes is not None]
    slope = slope_per_min(points)
    if slope is None:
        return {}
    out = {"rss_growth_mib_per_min": slope, "rss_after_warmup_first_mib": points[0][1],
           "rss_after_warmup_last_mib": points[-1][1], "rss_after_warmup_samples": float(len(points))}
    late = slope_per_min(points[len(points) // 2:])
    if late is not None:
        out["rss_growth_late_mib_per_min"] = late
    return out


def series(samples: Sequence[ServerSample]) -> list[dict[str, float | None]]:
    """Per-interval figures for charts: seconds since the first sample, CPU ms per request in the interval,
    RSS, sessions, RSS per session added since the start, cache hit rate in the interval."""
    if not samples:
        return []
    start = samples[0]
    rows: list[dict[str, float | None]] = []
    for prev, cur in zip(samples, samples[1:], strict=False):
        cpu, requests = _delta(prev.cpu_seconds, cur.cpu_seconds), _delta(prev.requests, cur.requests)
        hits, lookups = _delta(prev.cache_hits, cur.cache_hits), _delta(prev.cache_lookups, cur.cache_lookups)
        rows.append({
            "t": round(cur.at - start.at, 2),
            "requests_per_s": None if requests is None else requests / max(cur.at - prev.at, 1e-9),
            "cpu_ms_per_request": None if cpu is None or not requests else 1000 * cpu / requests,
            "rss_mib": None if cur.rss_bytes is None else cur.rss_bytes / MIB,
            "sessions": cur.sessions,
            "rss_kib_per_session": _rss_per_session(start, cur),
            "cache_hit_rate": None if hits is None or not lookups else hits / lookups,
        })
    return rows


# ---------------------------------------------------------------------------------------------- sampling

class Sampler:
    """Samples the engine every ``every`` seconds in a gevent greenlet while a run lasts."""

    def __init__(self, metrics_url: str | None, healthcheck_url: str | None, every: float,
                 on_sample: Callable[[ServerSample], None] | None = None) -> None:
        self.metrics_url = metrics_url
        self.healthcheck_url = healthcheck_url
        self.every = every
        self.on_sample = on_sample
        self.samples: list[ServerSample] = []
        self._greenlet: Any = None

    def take(self) -> ServerSample | None:
        sample = scrape(self.metrics_url, self.healthcheck_url, timeout=min(5.0, max(self.every, 1.0)))
        if sample is not None:
            self.samples.append(sample)
            if self.on_sample is not None:
                self.on_sample(sample)
        return sample

    def start(self) -> None:
        """A first sample now (the baseline), then one every ``every`` seconds."""
        import gevent

        self.samples = []
        self.take()

        def loop() -> None:
            next_at = time.monotonic() + self.every
            while True:
                gevent.sleep(max(0.0, next_at - time.monotonic()))
                next_at += self.every
                self.take()

        self._greenlet = gevent.spawn(loop)

    def stop(self) -> None:
        """Stop sampling and take a last sample (the end of the run)."""
        if self._greenlet is None:
            return
        self._greenlet.kill(block=True)
        self._greenlet = None
        self.take()
