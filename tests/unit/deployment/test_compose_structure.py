"""The compose files, Dockerfile and monitoring configuration agree with the guide and each other."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from tests.unit.deployment.compose_files import REPOSITORY, load
from trader.settings import DEFAULT_PORTS, SERVICE_NAMES

compose = load("docker-compose.yml")
production = load("docker-compose.prod.yml")


def test_the_guide_names_the_project_network_and_volume() -> None:
    # `docker volume rm full-ai-trader_postgres_data`, `docker network inspect full-ai-trader_trading_network`
    assert compose["name"] == "full-ai-trader"
    assert "trading_network" in compose["networks"]
    assert "postgres_data" in compose["volumes"]
    assert set(compose["services"]) == {"postgres", "redis", *SERVICE_NAMES}


def test_postgres_is_the_guides_database_and_role() -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_DB"] == "trading_system"
    assert postgres["environment"]["POSTGRES_USER"] == "trader"
    assert "postgres_data:/var/lib/postgresql/data" in postgres["volumes"]
    assert postgres["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -U trader -d trading_system"]
    assert compose["services"]["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_runs_itself_on_its_port_with_a_health_check(service: str) -> None:
    definition = compose["services"][service]
    port = DEFAULT_PORTS[service]
    assert definition["command"] == ["serve", service]
    assert definition["ports"] == [f"{port}:{port}"]
    assert definition["environment"][f"{service.upper()}_PORT"] == str(port)
    assert definition["healthcheck"]["test"] == ["CMD", "curl", "-fsS", f"http://127.0.0.1:{port}/health"]
    assert "trading_network" in definition["networks"]
    assert definition["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    environment = definition["environment"]
    assert environment["DATABASE_URL"].endswith("@postgres:5432/trading_system")
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["HOST"] == "0.0.0.0"
    # Every service finds the others by their compose names.
    urls = json.loads(environment["SERVICE_URLS"])
    assert urls == {name: f"http://{name}:{DEFAULT_PORTS[name]}" for name in SERVICE_NAMES}


def test_every_service_joins_the_network() -> None:
    for name, definition in compose["services"].items():
        assert definition["networks"] == ["trading_network"], name


def test_production_overrides_require_secrets_and_hide_the_databases() -> None:
    services = production["services"]
    assert services["postgres"]["ports"] == [] and services["redis"]["ports"] == []
    for service in SERVICE_NAMES:
        environment = services[service]["environment"]
        assert environment["ENVIRONMENT"] == "production"
        assert environment["ALLOW_UNAUTHENTICATED_LOOPBACK"] == "false"
        for secret in ("API_SECRET_KEY", "API_TOKEN"):
            assert re.fullmatch(r"\$\{" + secret + r":\?.+\}", environment[secret]), environment[secret]
        port = DEFAULT_PORTS[service]
        assert services[service]["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert services[service]["deploy"]["resources"]["limits"]["memory"]
    assert services["migrate"]["command"] == ["migrate", "production"]
    assert set(services) - {"migrate", "prometheus", "grafana"} <= set(compose["services"])


def test_production_mounts_the_monitoring_files_that_exist() -> None:
    services = production["services"]
    mounts = [*services["prometheus"]["volumes"], *services["grafana"]["volumes"]]
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (REPOSITORY / source).exists(), source
    for name in ("prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
        assert services[name]["networks"] == ["trading_network"]


def test_prometheus_scrapes_every_service_by_its_compose_name() -> None:
    prometheus = load("monitoring/prometheus.yml")
    targets = {
        job["job_name"]: target
        for job in prometheus["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    for service in SERVICE_NAMES:
        assert targets[service] == f"{service}:{DEFAULT_PORTS[service]}"
    assert prometheus["rule_files"] == ["/etc/prometheus/alert_rules.yml"]


def test_alert_rules_are_complete() -> None:
    rules = [rule for group in load("monitoring/alert_rules.yml")["groups"] for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["expr"].strip()
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_grafana_dashboard_queries_prometheus() -> None:
    dashboard = json.loads((REPOSITORY / "monitoring/grafana/dashboards/trader.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"])
        assert panel["datasource"]["uid"] == "prometheus"
    datasources = load("monitoring/grafana/provisioning/datasources/prometheus.yml")
    assert datasources["datasources"][0]["uid"] == "prometheus"


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    dockerfile = (REPOSITORY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", dockerfile, flags=re.MULTILINE)
    assert stages == ["build", "runtime"]
    assert "COPY --from=build /opt/venv /opt/venv" in dockerfile
    assert re.search(r"^USER trader$", dockerfile, flags=re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile
    assert 'ENTRYPOINT ["trader"]' in dockerfile
    for copied in re.findall(r"^COPY (?:--chown=\S+ )?(\S+) ", dockerfile, flags=re.MULTILINE):
        if not copied.startswith("--from"):
            assert (REPOSITORY / copied).exists(), f"the Dockerfile copies {copied}, which does not exist"
    ignored = (REPOSITORY / ".dockerignore").read_text().split()
    assert {".git", ".venv", "data", "logs"} <= set(ignored)


def test_the_installed_package_ships_the_dashboard_assets() -> None:
    # The image installs the wheel; files outside *.py reach it only through package-data.
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]
    shipped = [
        f"{package.replace('.', '/')}/{pattern}"
        for package, entries in patterns.items()
        for pattern in entries
    ]
    static = REPOSITORY / "trader/services/maintenance_service/dashboard/static"
    for asset in sorted(static.iterdir()):
        relative = asset.relative_to(REPOSITORY).as_posix()
        assert any(
            re.fullmatch(re.escape(pattern).replace(r"\*", "[^/]*"), relative) for pattern in shipped
        ), f"{relative} is not in [tool.setuptools.package-data]"
