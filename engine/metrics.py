"""Prometheus metrics through ``prometheus_client``, on their own port as in the real engine (9090).

Each engine instance has its own registry, so several engines (tests) can live in one process.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger("qix.metrics")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(
            registry=r
        )  # process_cpu_seconds_total, process_resident_memory_bytes: what load tests read
        self.active_sessions = Gauge("qix_active_sessions", "Sessions alive now", registry=r)
        self.sessions_total = Counter("qix_sessions", "Sessions created", registry=r)
        self.active_connections = Gauge("qix_active_connections", "Open WebSocket connections", registry=r)
        self.requests = RequestStats()
        r.register(self.requests)
        self.handshake_rejections = Counter(
            "qix_handshake_rejections", "WebSocket handshakes refused", ["reason"], registry=r
        )
        self.active_documents = Gauge("qix_active_documents", "Apps loaded in memory", registry=r)
        self.websocket_buffered_bytes = Gauge(
            "qix_websocket_buffered_bytes", "Answer bytes written to WebSockets and not yet sent", registry=r
        )
        self.calc_cache = CacheStats()
        r.register(self.calc_cache)
        self._server: WSGIServer | None = None

    def request(self, method: str, seconds: float) -> None:
        self.requests.observe(method, seconds)

    def serve(self, host: str, port: int) -> None:
        """Expose ``/metrics`` on ``port`` (0 = off) from a daemon thread."""
        if port:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
            log.info("metrics listening", extra={"port": port})

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class RequestStats(Collector):
    """``qix_requests_total{method}`` and ``qix_request_duration_seconds``, counted in plain ints and floats.

    A prometheus_client ``Counter`` and ``Histogram`` update takes a lock per value touched: about 3 µs of
    every request, a tenth of a cached ``GetLayout``. Here a request costs a dict update and a bisect on the
    event loop's thread; the scrape (another thread) copies the figures and builds the families.
    """

    BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

    def __init__(self) -> None:
        self.by_method: dict[str, int] = {}
        self.in_bucket = [0] * (len(self.BUCKETS) + 1)  # the last one is +Inf
        self.seconds = 0.0

    def observe(self, method: str, seconds: float) -> None:
        by_method = self.by_method
        by_method[method] = by_method.get(method, 0) + 1
        self.in_bucket[bisect_left(self.BUCKETS, seconds)] += 1
        self.seconds += seconds

    def describe(self) -> Iterator[Metric]:
        return self._families({}, [0] * len(self.in_bucket), 0.0)

    def collect(self) -> Iterator[Metric]:
        return self._families(dict(self.by_method), list(self.in_bucket), self.seconds)

    def _families(self, by_method: dict[str, int], in_bucket: list[int], seconds: float) -> Iterator[Metric]:
        requests = CounterMetricFamily("qix_requests", "JSON-RPC requests answered", labels=["method"])
        for method, count in sorted(by_method.items()):
            requests.add_metric([method], count)
        yield requests
        cumulative, running = [], 0
        for bound, count in zip([*map(floatToGoString, self.BUCKETS), "+Inf"], in_bucket, strict=True):
            running += count
            cumulative.append((bound, running))
        yield HistogramMetricFamily(
            "qix_request_duration_seconds",
            "Time to answer a JSON-RPC request",
            buckets=cumulative,
            sum_value=seconds,
        )


class CacheStats(Collector):
    """``qix_calc_cache_*``: the shared calculation cache's counters, read from ``source`` when scraped."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[str, int]] = lambda: {}

    def describe(self) -> Iterator[Metric]:
        return self._families({})

    def collect(self) -> Iterator[Metric]:
        return self._families(self.source())

    @staticmethod
    def _families(figures: dict[str, int]) -> Iterator[Metric]:
        for name, key, text in (
            ("hits", "hits", "Lookups answered from the cache"),
            ("lookups", "lookups", "Lookups of the cache"),
            ("added", "added", "Results stored"),
            ("replaced", "replaced", "Results stored over an existing entry"),
        ):
            yield CounterMetricFamily(f"qix_calc_cache_{name}", text, value=figures.get(key, 0))
        yield GaugeMetricFamily(
            "qix_calc_cache_bytes", "Bytes the cache holds now", value=figures.get("bytes", 0)
        )
