"""The process's Prometheus metrics, defined once: every layer records into these, `/metrics` serves them.

Names follow Prometheus conventions (`_total` counters, `_seconds` histograms). Labels stay few and bounded:
a method or route template, a status code, a rate class — never a vendor, token or symbol.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Latency buckets from 0.5 ms (a cached read) to 30 s (the gateway's default deadline).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

grpc_calls = Counter("mp_grpc_calls", "RPCs finished, by full method name and gRPC status code.", ["method", "code"])
grpc_call_seconds = Histogram(
    "mp_grpc_call_seconds", "RPC latency, by full method name (streams: their whole life).", ["method"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip

http_requests = Counter(
    "mp_http_requests", "HTTP requests answered, by route template and status code.", ["route", "status"]
)
http_request_seconds = Histogram(
    "mp_http_request_seconds", "HTTP request latency, by route template.", ["route"], buckets=LATENCY_BUCKETS
)

introspection_cache = Counter(
    "mp_introspection_cache", "Token introspection answers, by where they came from.", ["result"]
)  # result: hit | miss | negative_hit

signals_stored = Counter("mp_signals_stored", "Signals committed by ingest on this replica.")
signal_batches = Counter("mp_signal_batches", "Signal batches committed by ingest on this replica.")
signal_batch_seconds = Histogram(
    "mp_signal_batch_seconds", "Time to validate and commit one batch of signals.", buckets=LATENCY_BUCKETS
)

subscribers = Gauge("mp_subscribers", "Open signal subscriptions on this replica.")
subscriber_lag_seconds = Histogram(
    "mp_subscriber_lag_seconds",
    "From a signal's commit to its delivery to a subscriber of this replica.",
    buckets=LATENCY_BUCKETS,
)
subscribers_dropped = Counter("mp_subscribers_dropped", "Subscribers ended for falling too far behind.")

rate_limit_rejections = Counter(
    "mp_rate_limit_rejections", "Calls refused with RESOURCE_EXHAUSTED, by rate class.", ["rate_class"]
)
rate_limiter_shared = Gauge(
    "mp_rate_limiter_shared", "1 while limits are shared through Redis, 0 while this replica limits on its own."
)

notifications_received = Counter(
    "mp_notifications_received", "Cross-replica notifications received, by channel.", ["channel"]
)
notification_listener_connected = Gauge(
    "mp_notification_listener_connected", "1 while this replica listens for other replicas' notifications."
)


class DatabasePools(Collector):
    """The SQLAlchemy connection pools of this process, read when /metrics is scraped (a pool keeps its
    own counts; copying them into gauges on every checkout would cost each query a lock). Pools
    without a size (SQLAlchemy's NullPool, StaticPool) count as empty; several pools (tests run
    several servers in one process) add up."""

    def __init__(self) -> None:
        self._pools: list[Any] = []

    def watch(self, pool: Any) -> None:
        self._pools.append(pool)

    def forget(self, pool: Any) -> None:
        if pool in self._pools:
            self._pools.remove(pool)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size, checked_out, overflow = self._families()
        totals = [0, 0, 0]
        for pool in list(self._pools):
            if not hasattr(pool, "checkedout"):
                continue
            totals[0] += pool.size()
            totals[1] += pool.checkedout()
            totals[2] += max(0, pool.overflow())  # QueuePool counts up from -size until it is full
        for family, value in zip((size, checked_out, overflow), totals, strict=True):
            family.add_metric([], value)
            yield family

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("mp_db_pool_size", "Connections the database pool keeps (its configured size)."),
            GaugeMetricFamily("mp_db_pool_checked_out", "Database connections in use now."),
            GaugeMetricFamily("mp_db_pool_overflow", "Connections open now beyond the pool's size."),
        )


database_pools = DatabasePools()
REGISTRY.register(database_pools)
