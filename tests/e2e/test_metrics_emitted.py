"""Every metric that the alert rules and the Grafana dashboard name is really on some service's
/metrics, scraped from the whole system running on the embedded default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.system import REPOSITORY, start
from trader.settings import SERVICE_NAMES

pytestmark = pytest.mark.e2e

# Which service must emit each domain metric (the others come from the common app factory).
OWNERS = {
    "orders_submitted_total": "trade_executor",
    "orders_filled_total": "trade_executor",
    "orders_rejected_total": "trade_executor",
    "reconciliation_drift": "trade_executor",
    "risk_denials_total": "risk_manager",
    "trading_state": "risk_manager",
    "bars_ingested_total": "data_collector",
    "bars_rejected_total": "data_collector",
    "provider_credits_remaining": "data_collector",
    "job_duration_seconds_bucket": "scheduler",
    "job_failures_total": "scheduler",
    "notifications_failed_total": "maintenance_service",
}
# Made by Prometheus itself when it scrapes, never by a target.
SCRAPE_METRICS = {"up"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range durations
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?", text):
        name, is_call = match.group(0).rstrip("( \t\n"), match.group(1)
        if not is_call and name not in PROMQL_WORDS:
            names.add(name)
    return names


def referenced_metrics() -> dict[str, set[str]]:
    """metric name -> where it is used."""
    found: dict[str, set[str]] = {}
    rules = yaml.safe_load((REPOSITORY / "monitoring/alert_rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                found.setdefault(name, set()).add(f"alert {rule['alert']}")
    for path in sorted((REPOSITORY / "monitoring/grafana/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                for name in metric_names(target["expr"]):
                    found.setdefault(name, set()).add(f"{path.name} panel {panel['title']!r}")
    return found


def exposed_names(exposition: str) -> set[str]:
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "summary":
                names |= {f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_the_expression_parser_finds_metric_names() -> None:
    expression = (
        "histogram_quantile(0.95, sum by (le, service) "
        '(rate(http_request_duration_seconds_bucket{status=~"5.."}[5m])))'
        " > 2 and on (service) trader_component_up == 0"
    )
    assert metric_names(expression) == {"http_request_duration_seconds_bucket", "trader_component_up"}


def test_every_metric_in_the_rules_and_dashboards_is_emitted(tmp_path: Path) -> None:
    referenced = referenced_metrics()
    assert len(referenced) >= 10, referenced
    unowned = set(referenced) - set(OWNERS) - SCRAPE_METRICS - {
        "http_requests_total", "http_request_duration_seconds_bucket", "trader_component_up",
    }  # fmt: skip
    assert not unowned, f"say which service emits {sorted(unowned)} in OWNERS"
    system = start(tmp_path, [["up"]])
    try:
        system.wait_healthy(timeout_seconds=60)
        for service in SERVICE_NAMES:  # one request each, so the request metrics have samples
            httpx.get(f"{system.url(service)}/health", timeout=5)
        exposed = {
            service: exposed_names(httpx.get(f"{system.url(service)}/metrics", timeout=5).text)
            for service in SERVICE_NAMES
        }
    finally:
        system.stop()
    missing = []
    for name, uses in sorted(referenced.items()):
        if name in SCRAPE_METRICS:
            continue
        owner = OWNERS.get(name)
        emitters = [service for service in SERVICE_NAMES if name in exposed[service]]
        if owner is not None and owner not in emitters:
            missing.append(f"{name}: not emitted by {owner} (used by {', '.join(sorted(uses))})")
        elif not emitters:
            missing.append(f"{name}: emitted by no service (used by {', '.join(sorted(uses))})")
    assert not missing, "metrics named in monitoring/ but not emitted:\n" + "\n".join(missing)
