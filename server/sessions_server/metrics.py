"""Prometheus metrics of one server: RPCs by method and code, their latency,
streams in flight, and the model upstream's first-token time and tokens.

Each server owns its registry (no process-wide singletons), so two servers in one
process — as in the tests — count separately.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "sessions_rpcs",
            "Completed RPCs by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_seconds = Histogram(
            "sessions_rpc_seconds",
            "RPC duration (whole stream for streaming RPCs).",
            ["method"],
            registry=self.registry,
        )
        self.streams_in_flight = Gauge(
            "sessions_streams_in_flight",
            "Streaming RPCs currently open.",
            ["method"],
            registry=self.registry,
        )
        self.upstream_first_token_seconds = Histogram(
            "sessions_upstream_first_token_seconds",
            "Time from the upstream request to its first token.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.upstream_tokens = Counter(
            "sessions_upstream_tokens",
            "Completion tokens received from upstreams (as reported, else deltas).",
            ["endpoint"],
            registry=self.registry,
        )
        self._http: tuple[WSGIServer, threading.Thread] | None = None

    @contextmanager
    def stream_open(self, method: str) -> Iterator[None]:
        gauge = self.streams_in_flight.labels(method)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def rpc_done(self, method: str, code: str, started: float) -> None:
        self.rpcs.labels(method, code).inc()
        self.rpc_seconds.labels(method).observe(time.perf_counter() - started)

    def first_token(self, endpoint: str, seconds: float) -> None:
        self.upstream_first_token_seconds.labels(endpoint).observe(seconds)

    def tokens(self, endpoint: str, count: int) -> None:
        self.upstream_tokens.labels(endpoint).inc(count)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Starts the HTTP exposition on `port` (0 picks one); returns the port."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = (server, thread)
        return int(server.server_port)

    def close(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._http = None
