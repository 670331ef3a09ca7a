"""Prometheus metrics: ``GET /metrics`` in the text format, correct across worker processes.

With several workers (``ROUTER_WORKERS``), the parent gives them a shared directory in
``PROMETHEUS_MULTIPROC_DIR`` before they start; ``prometheus_client`` then keeps each worker's
values in files there and a scrape, answered by any worker, adds them up. Account gauges are
read at scrape time from that worker's pool, which every worker keeps in step with the store.

A finished request is noted in a list (``observe``, about a microsecond) and the list is
folded into the counters and histograms in one go (``fold``): before every collection of the
registry (a scrape, a test reading a value) and twice a second (``_every_second`` in ``app``),
so another worker's scrape sees this worker's requests at most half a second late. Folding adds
up the requests with the same labels first: a busy second costs a few updates per label set,
not ten per request.

Labels stay few and bounded: a route name (not the path), a status class, the account, the
model (one the upstream answered to, at most ``MAX_MODEL_LABELS`` of them, else ``other``), and
the key's label only with ``METRICS_PER_KEY=true``. Nothing secret is a label.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from link_assistant_router.accounts.account import Account
from link_assistant_router.prices import MICROS_PER_USD
from link_assistant_router.requestlog import RequestLog, Usage

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "MAX_MODEL_LABELS",
    "METRICS",
    "MULTIPROC_ENV",
    "OTHER",
    "TTFB_BUCKETS",
    "AccountCollector",
    "Metrics",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets from a few milliseconds (a refused key) to minutes (a long stream).
TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Distinct model labels a process gives out before it counts the rest as "other".
MAX_MODEL_LABELS = 64
OTHER = "other"
_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_creation", "cache_creation_input_tokens"),
    ("cache_read", "cache_read_input_tokens"),
)


class Metrics:
    """The router's metrics, on a registry of their own (so several apps can live in one
    process, as in the tests)."""

    def __init__(self, *, per_key: bool) -> None:
        self.per_key = per_key
        self.multiprocess = MULTIPROC_ENV in os.environ
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._models: set[str] = set()
        # Finished requests not yet counted: (route, status, outcome, account, model, time to
        # first byte, duration, usage, cost, key label).
        self._noted: list[_Noted] = []
        self.registry = CollectorRegistry()
        registry = self.registry
        registry.register(_Folding(self))  # first: whatever collects sees every request
        self.requests = Counter(
            "lar_requests",
            "Requests answered, by route, status class, outcome (how it ended), account and model.",
            ["route", "status_class", "outcome", "account", "model"],
            registry=registry,
        )
        self.ttfb = Histogram(
            "lar_time_to_first_byte_seconds",
            "Time from the request's arrival to the upstream's first byte.",
            ["route"],
            buckets=TTFB_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "lar_request_duration_seconds",
            "Time from the request's arrival to its last byte.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        token_labels = ["type", "account", "model"] + (["key"] if per_key else [])
        self.tokens = Counter(
            "lar_tokens",
            "Tokens used, by type (input, output, cache_creation, cache_read), account and model.",
            token_labels,
            registry=registry,
        )
        self.cost = Counter(
            "lar_cost_usd",
            "What the answers cost at API prices, in dollars, by account and model (for "
            "subscription accounts the API-equivalent value).",
            token_labels[1:],
            registry=registry,
        )
        self.active_streams = Gauge(
            "lar_active_streams",
            "Event streams being relayed now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.refreshes = Counter(
            "lar_token_refreshes",
            "OAuth token refreshes, by account and outcome (ok, needs_login, failed).",
            ["account", "outcome"],
            registry=registry,
        )
        self.ledger_rows_set_aside = Counter(
            "lar_ledger_rows_set_aside",
            "Usage ledger rows the store refused as they were (set aside, never retried).",
            registry=registry,
        )
        self.ledger_rows_dropped = Counter(
            "lar_ledger_rows_dropped",
            "Usage ledger rows dropped because memory and the spill file were full.",
            registry=registry,
        )
        self.upstream_busy = Counter(
            "lar_upstream_busy",
            "Requests refused (503) after waiting UPSTREAM_POOL_TIMEOUT_S for a request slot.",
            registry=registry,
        )
        self.limit_rejections = Counter(
            "lar_limit_rejections",
            "Requests refused by a key's limits, by reason.",
            ["reason"],
            registry=registry,
        )

    def observe(self, entry: RequestLog, cost_micros: int = 0) -> None:
        """Note a finished request and its cost (called once per request, after its log line
        and its ledger row); counted at the next ``fold``."""
        self._noted.append(
            (
                entry.route,
                entry.status,
                entry.outcome,
                entry.account or "",
                entry.model,
                entry.ttfb,
                time.perf_counter() - entry.started,
                entry.usage,
                cost_micros,
                (entry.key_label or entry.key_id or "") if self.per_key else None,
            )
        )

    def fold(self) -> None:
        """Count the requests noted since the last fold: each label set's sums updated once."""
        noted, self._noted = self._noted, []
        if not noted:
            return
        requests: defaultdict[tuple[str, ...], int] = defaultdict(int)
        tokens: defaultdict[tuple[str, ...], int] = defaultdict(int)
        cost: defaultdict[tuple[str, ...], int] = defaultdict(int)
        ttfb = _Buckets(TTFB_BUCKETS)
        duration = _Buckets(DURATION_BUCKETS)
        for route, status, outcome, account, model, first, took, usage, micros, key in noted:
            status_class = _STATUS_CLASSES.get(status // 100 if status else 0, "none")
            model = self._model_label(model, status)
            requests[(route, status_class, outcome, account, model)] += 1
            if first is not None:
                ttfb.add(route, first)
            duration.add(route, took)
            if usage is not None:
                extra = (key,) if key is not None else ()
                for kind, field in _TOKEN_KINDS:
                    count = getattr(usage, field)
                    if count:
                        tokens[(kind, account, model, *extra)] += count
                if micros:
                    cost[(account, model, *extra)] += micros
        for labels, count in requests.items():
            self._child(self.requests, labels).inc(count)
        for labels, count in tokens.items():
            self._child(self.tokens, labels).inc(count)
        for labels, micros in cost.items():
            self._child(self.cost, labels).inc(micros / MICROS_PER_USD)
        ttfb.add_to(self.ttfb, self._child)
        duration.add_to(self.duration, self._child)

    def _model_label(self, model: str | None, status: int | None) -> str:
        """The model as a label: only a name the upstream accepted (an answered request), and
        only the first ``MAX_MODEL_LABELS`` of those; anything else is ``other``. Clients
        choose model names, so they must not choose how many series there are."""
        if not model:
            return ""
        if model in self._models:
            return model
        if status is None or not 200 <= status < 300 or len(self._models) >= MAX_MODEL_LABELS:
            return OTHER
        self._models.add(model)
        return model

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """``metric.labels(*labels)``, remembered: the lookup is most of an update's cost."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def refreshed(self, account: str, outcome: str) -> None:
        self.refreshes.labels(account, outcome).inc()

    def limit_rejected(self, reason: str) -> None:
        self.limit_rejections.labels(reason).inc()

    def exposition(self, accounts: Iterable[Account], upstream: object = None) -> bytes:
        """The text format: every worker's values (when there are several), the accounts, and
        this worker's upstream request slots (``upstream``: its client, when it counts them)."""
        if self.multiprocess:
            self.fold()  # this worker's own requests, up to now; the others' fold each second
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = CollectorRegistry()
            registry.register(_Registered(self.registry))
        registry.register(AccountCollector(lambda: list(accounts)))
        if hasattr(upstream, "in_flight"):
            registry.register(UpstreamSlotsCollector(upstream))
        return generate_latest(registry)


_Noted = tuple[
    str, int | None, str, str, str | None, float | None, float, Usage | None, int, str | None
]


class _Buckets:
    """Observations of one histogram by route, as ``Histogram.observe`` would count them (a
    value goes to the first bucket whose bound is not below it), added to it in one go."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._routes: dict[str, tuple[list[int], list[float]]] = {}

    def add(self, route: str, value: float) -> None:
        counts = self._routes.get(route)
        if counts is None:
            counts = self._routes[route] = ([0] * (len(self._bounds) + 1), [0.0])
        counts[0][bisect_left(self._bounds, value)] += 1
        counts[1][0] += value

    def add_to(self, histogram: Histogram, child: Callable[[Any, tuple[str, ...]], Any]) -> None:
        for route, (counts, total) in self._routes.items():
            series = child(histogram, (route,))
            # prometheus_client's own parts of a histogram series: its sum and its per-bucket
            # counts (the last for +Inf), which its collect adds up into the cumulative form.
            series._sum.inc(total[0])
            for number, count in enumerate(counts):
                if count:
                    series._buckets[number].inc(count)


class _Folding(Collector):
    """Registered first in the metrics' registry: a collection folds the noted requests in
    before the counters are read, and yields nothing of its own."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        self._metrics.fold()
        return iter(())


class _Registered(Collector):
    """This process's metrics, collected into the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return iter(self._source.collect())


class UpstreamSlotsCollector(Collector):
    """This worker's requests to the upstream: in flight, waiting for a slot, and the limit."""

    def __init__(self, upstream: Any) -> None:
        self._upstream = upstream

    def collect(self) -> Iterator[Metric]:
        for name, attribute, text in (
            ("lar_upstream_in_flight", "in_flight", "Requests to the upstream in flight now."),
            ("lar_upstream_waiting", "waiting", "Requests waiting for a free request slot."),
            ("lar_upstream_slots", "max_connections", "UPSTREAM_MAX_CONNECTIONS."),
        ):
            family = GaugeMetricFamily(name, text + " (this worker)", labels=[])
            family.add_metric([], float(getattr(self._upstream, attribute, 0)))
            yield family


class AccountCollector(Collector):
    """Per-account gauges, read when scraped: state, 5h/7d utilization and reset."""

    def __init__(self, accounts: Callable[[], list[Account]]) -> None:
        self._accounts = accounts

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        ready = GaugeMetricFamily(
            "lar_account_ready",
            "1 when the account can serve now, else 0; the state label says why not.",
            labels=["account", "state"],
        )
        utilization = GaugeMetricFamily(
            "lar_account_utilization",
            "The account's last reported utilization of a quota window (0 to 1).",
            labels=["account", "window"],
        )
        reset = GaugeMetricFamily(
            "lar_account_window_reset_timestamp_seconds",
            "When the account's quota window resets (UNIX time).",
            labels=["account", "window"],
        )
        for account in self._accounts():
            view = account.describe(now)
            ready.add_metric([account.name, str(view["state"])], 0.0 if view["reason"] else 1.0)
            windows = account.quota.windows if account.quota else {}
            for name in ("5h", "7d"):
                window = windows.get(name)
                if window is None:
                    continue
                if window.utilization is not None:
                    utilization.add_metric([account.name, name], window.utilization)
                if window.reset is not None:
                    reset.add_metric([account.name, name], window.reset)
        yield ready
        yield utilization
        yield reset


METRICS = web.AppKey("metrics", Metrics)
