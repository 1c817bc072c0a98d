"""Prometheus metrics: one registry per service, so seven apps can share a process."""

from __future__ import annotations

from typing import TypeVar
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = [
    "CONTENT_TYPE_LATEST",
    "JobMetrics",
    "MarketDataMetrics",
    "NotificationMetrics",
    "OrderMetrics",
    "RiskMetrics",
    "ServiceMetrics",
    "StrategyMetrics",
    "job_metrics",
    "market_data_metrics",
    "notification_metrics",
    "order_metrics",
    "risk_metrics",
    "strategy_metrics",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status code.",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["service", "method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.component_up = Gauge(
            "trader_component_up",
            "1 when a dependency answered the last health check, else 0.",
            ["service", "component"],
            registry=self.registry,
        )
        self.service_info = Gauge(
            "trader_service_info",
            "Constant 1, labelled with the service name and version.",
            ["service", "version"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.request_seconds.labels(self.service, method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- Domain metrics -------------------------------------------------------------------------------
# Each group is registered on the registry of the service that owns the figure, and only there, so
# a scrape shows which service really emits what (monitoring/ and tests/e2e/test_metrics_emitted.py
# rely on that). Get a group with e.g. `order_metrics(request.app.state.metrics)`; repeated calls
# return the same instruments.

TRADING_STATE_VALUES = {"active": 0, "reducing": 1, "halted": 2}
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class OrderMetrics:
    """Trade executor: orders through their life, and drift found by reconciliation with the broker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.orders_submitted = Counter(
            "orders_submitted", "Orders sent to the broker.", ["broker"], registry=registry
        )
        self.orders_filled = Counter(
            "orders_filled", "Orders completely filled.", ["broker"], registry=registry
        )
        self.orders_rejected = Counter(
            "orders_rejected",
            "Orders the broker (or the executor's checks) rejected, by reason code.",
            ["broker", "reason"],
            registry=registry,
        )
        self.reconciliation_drift = Gauge(
            "reconciliation_drift",
            "Differences found by the last reconciliation with the broker, by kind "
            "(position_quantity, order_status, cash, unknown_order).",
            ["kind"],
            registry=registry,
        )


class RiskMetrics:
    """Risk manager: denials by reason code and the trading state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.risk_denials = Counter(
            "risk_denials", "Orders the risk manager denied, by reason code.", ["reason"], registry=registry
        )
        self.risk_approvals = Counter(
            "risk_approvals", "Orders the risk manager approved.", registry=registry
        )
        self.risk_signals_at_target = Counter(
            "risk_signals_at_target",
            "Signals whose target the position held already meets (an exit when flat, a repeated"
            " entry): nothing sent, no decision recorded; by direction.",
            ["direction"],
            registry=registry,
        )
        self.trading_state = Gauge(
            "trading_state", "Trading state: 0 active, 1 reducing, 2 halted.", registry=registry
        )

    def set_trading_state(self, state: str) -> None:
        self.trading_state.set(TRADING_STATE_VALUES[state])


class MarketDataMetrics:
    """Data collector: bars stored or refused, and what each provider has left."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.bars_ingested = Counter(
            "bars_ingested", "Bars validated and stored, by provider.", ["provider"], registry=registry
        )
        self.bars_rejected = Counter(
            "bars_rejected", "Bars refused by validation, by reason code.", ["reason"], registry=registry
        )
        self.bars_published = Counter(
            "bars_published",
            "Closed bars announced as BarClosed, by timeframe.",
            ["timeframe"],
            registry=registry,
        )
        self.bars_history = Counter(
            "bars_history",
            "Stored bars passed over as history (closed before the system could act), by timeframe.",
            ["timeframe"],
            registry=registry,
        )
        self.bar_corrections = Counter(
            "bar_corrections",
            "Corrections of announced bars, announced as BarCorrected, by timeframe.",
            ["timeframe"],
            registry=registry,
        )
        self.provider_credits_remaining = Gauge(
            "provider_credits_remaining",
            "API credits the provider still allows in its current window.",
            ["provider"],
            registry=registry,
        )


class StrategyMetrics:
    """Strategy engine: closed bars taken off the bus and evaluated, per worker process.

    Summed over the workers of one consumer group it equals the bars published: each bar is
    evaluated and acknowledged by exactly one worker.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.strategy_evaluations = Counter(
            "strategy_evaluations",
            "Closed bars evaluated against every enabled configuration and acknowledged.",
            registry=registry,
        )
        self.strategy_bars_claimed = Counter(
            "strategy_bars_claimed",
            "Bars taken over from a worker that left them pending (stopped or stuck).",
            registry=registry,
        )


class JobMetrics:
    """Scheduler: how long each job ran and how often it failed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.job_duration_seconds = Histogram(
            "job_duration_seconds", "Job run time.", ["job"], buckets=_JOB_BUCKETS, registry=registry
        )
        self.job_failures = Counter("job_failures", "Job runs that failed.", ["job"], registry=registry)
        self.job_last_success = Gauge(
            "job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run.",
            ["job"],
            registry=registry,
        )


class NotificationMetrics:
    """Any service that sends notifications: sent, suppressed by cooldown, failed, per channel."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications_sent = Counter(
            "notifications_sent", "Notifications delivered.", ["channel", "kind"], registry=registry
        )
        self.notifications_failed = Counter(
            "notifications_failed", "Notifications a channel refused.", ["channel", "kind"], registry=registry
        )
        self.notifications_suppressed = Counter(
            "notifications_suppressed",
            "Notifications dropped by the per-kind cooldown.",
            ["kind"],
            registry=registry,
        )


_MetricGroup = TypeVar(
    "_MetricGroup",
    OrderMetrics,
    RiskMetrics,
    MarketDataMetrics,
    JobMetrics,
    NotificationMetrics,
    StrategyMetrics,
)
# One instance of each group per service registry; prometheus refuses a name registered twice.
_groups: WeakKeyDictionary[ServiceMetrics, dict[type[object], object]] = WeakKeyDictionary()


def _group_of(service_metrics: ServiceMetrics, kind: type[_MetricGroup]) -> _MetricGroup:
    groups = _groups.setdefault(service_metrics, {})
    group = groups.get(kind)
    if group is None:
        group = groups[kind] = kind(service_metrics.registry)
    assert isinstance(group, kind)
    return group


def order_metrics(service_metrics: ServiceMetrics) -> OrderMetrics:
    return _group_of(service_metrics, OrderMetrics)


def risk_metrics(service_metrics: ServiceMetrics) -> RiskMetrics:
    return _group_of(service_metrics, RiskMetrics)


def market_data_metrics(service_metrics: ServiceMetrics) -> MarketDataMetrics:
    return _group_of(service_metrics, MarketDataMetrics)


def job_metrics(service_metrics: ServiceMetrics) -> JobMetrics:
    return _group_of(service_metrics, JobMetrics)


def strategy_metrics(service_metrics: ServiceMetrics) -> StrategyMetrics:
    return _group_of(service_metrics, StrategyMetrics)


def notification_metrics(service_metrics: ServiceMetrics) -> NotificationMetrics:
    return _group_of(service_metrics, NotificationMetrics)
