"""Prometheus metrics through ``prometheus_client``, on their own port as in the real engine (9090).

Each engine instance has its own registry, so several engines (tests) can live in one process.
"""

from __future__ import annotations

import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

log = logging.getLogger("qix.metrics")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes: what load tests read
        self.active_sessions = Gauge("qix_active_sessions", "Sessions alive now", registry=r)
        self.sessions_total = Counter("qix_sessions", "Sessions created", registry=r)
        self.active_connections = Gauge("qix_active_connections", "Open WebSocket connections", registry=r)
        self.requests_total = Counter("qix_requests", "JSON-RPC requests answered", ["method"], registry=r)
        self.request_duration = Histogram(
            "qix_request_duration_seconds", "Time to answer a JSON-RPC request", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.handshake_rejections = Counter(
            "qix_handshake_rejections", "WebSocket handshakes refused", ["reason"], registry=r)
        self.active_documents = Gauge("qix_active_documents", "Apps loaded in memory", registry=r)
        self._server = None
        self._per_method: dict[str, Counter] = {}

    def request(self, method: str, seconds: float) -> None:
        counter = self._per_method.get(method)
        if counter is None:  # labels() costs a lock and a tuple build: once per method, not per call
            counter = self._per_method[method] = self.requests_total.labels(method=method)
        counter.inc()
        self.request_duration.observe(seconds)

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
