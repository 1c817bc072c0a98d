"""`trader risk ...`: read and change the risk manager's trading state and limits over its API.

Changes go through the service (authenticated, validated, audited, published), never around it.
The token is --token, else $API_TOKEN from the settings; in development a loopback call needs none.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from trader.commands.ops import EnvironmentOption, JsonOption, console, fail, settings_for

app = typer.Typer(help="Risk manager: trading state (halt/resume) and limits.", no_args_is_help=True)

UrlOption = Annotated[str | None, typer.Option(help="risk manager URL (default: from the settings)")]
TokenOption = Annotated[
    str | None, typer.Option(envvar="TRADER_API_TOKEN", help="bearer token (default: API_TOKEN)")
]
ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="why (recorded with your name)")]


def _call(
    method: str,
    path: str,
    *,
    url: str | None,
    token: str | None,
    environment: str | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    settings = settings_for(environment)
    base = (url or settings.url_of("risk_manager")).rstrip("/")
    bearer = token or (settings.api_token.get_secret_value() if settings.api_token else None)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer and method != "GET" else {}
    try:
        response = httpx.request(
            method, f"{base}{path}", json=body, params=params, headers=headers, timeout=15
        )
    except httpx.HTTPError as error:
        raise fail(f"cannot reach the risk manager at {base}: {error}") from None
    try:
        payload = response.json()
    except ValueError:
        payload = {"message": response.text}
    if response.status_code >= 400:
        message = payload.get("message") if isinstance(payload, dict) else payload
        raise fail(f"{method} {path} refused ({response.status_code}): {message}")
    return payload


def _print_state(body: dict[str, Any]) -> None:
    colour = {"active": "green", "reducing": "yellow", "halted": "red"}.get(body["state"], "white")
    console.print(f"trading state: [{colour}]{body['state'].upper()}[/{colour}]")
    if body.get("changed_at"):
        console.print(f"since {body['changed_at']} by {body['changed_by']}: {body['reason']}")


@app.command("state")
def state(url: UrlOption = None, environment: EnvironmentOption = None, as_json: JsonOption = False) -> None:
    """Show the trading state and its recent changes."""
    body = _call("GET", "/risk/trading-state", url=url, token=None, environment=environment)
    if as_json:
        console.print_json(json.dumps(body))
        return
    _print_state(body)


def _change(target: str, reason: str, url: str | None, token: str | None, environment: str | None) -> None:
    body = _call(
        "PUT",
        "/risk/trading-state",
        url=url,
        token=token,
        environment=environment,
        body={"state": target, "reason": reason},
    )
    _print_state(body)


@app.command("halt")
def halt(
    reason: ReasonOption,
    url: UrlOption = None,
    token: TokenOption = None,
    environment: EnvironmentOption = None,
) -> None:
    """Stop every new order (closing ones too) until someone resumes."""
    _change("halted", reason, url, token, environment)


@app.command("reduce")
def reduce(
    reason: ReasonOption,
    url: UrlOption = None,
    token: TokenOption = None,
    environment: EnvironmentOption = None,
) -> None:
    """Allow only orders that shrink a position."""
    _change("reducing", reason, url, token, environment)


@app.command("resume")
def resume(
    reason: ReasonOption,
    to: Annotated[str, typer.Option(help="active, or reducing to step down only halfway")] = "active",
    url: UrlOption = None,
    token: TokenOption = None,
    environment: EnvironmentOption = None,
) -> None:
    """Step down from HALTED or REDUCING (admin). After a drawdown halt, drawdown counts from now."""
    _change(to, reason, url, token, environment)


@app.command("limits")
def limits(url: UrlOption = None, environment: EnvironmentOption = None, as_json: JsonOption = False) -> None:
    """Show the limits in force, their version, who set them and why."""
    body = _call("GET", "/risk/limits", url=url, token=None, environment=environment)
    if as_json:
        console.print_json(json.dumps(body))
        return
    table = Table(title=f"risk limits v{body['version']} by {body['updated_by']} at {body['updated_at']}")
    table.add_column("limit")
    table.add_column("value", justify="right")
    for name, value in body["limits"].items():
        if name != "schema_version":
            table.add_row(name, str(value))
    console.print(table)
    console.print(f"reason: {body['reason']}")


@app.command("set-limits")
def set_limits(
    changes: Annotated[list[str], typer.Argument(help="name=value pairs, e.g. max_position_pct=0.08")],
    reason: ReasonOption,
    expected_version: Annotated[
        int | None, typer.Option(help="refuse if the limits are no longer at this version")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    environment: EnvironmentOption = None,
) -> None:
    """Change some limits (admin); a nonsensical value is refused with the reason."""
    parsed: dict[str, Any] = {}
    for change in changes:
        name, separator, value = change.partition("=")
        if not separator or not name.strip():
            raise fail(f"{change!r} is not name=value", 2)
        text = value.strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            parsed[name.strip()] = lowered == "true"
        elif lowered in ("null", "none"):
            parsed[name.strip()] = None
        elif text.lstrip("-").isdigit():
            parsed[name.strip()] = int(text)
        else:
            parsed[name.strip()] = text
    body = _call(
        "PUT",
        "/risk/limits",
        url=url,
        token=token,
        environment=environment,
        body={"limits": parsed, "reason": reason, "expected_version": expected_version},
    )
    console.print(f"risk limits now at version {body['version']}")


@app.command("decisions")
def decisions(
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    decision: Annotated[str | None, typer.Option(help="approved or denied")] = None,
    reason: Annotated[str | None, typer.Option(help="a reason code, e.g. STALE_PRICE")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
    url: UrlOption = None,
    environment: EnvironmentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent decisions with their reasons."""
    params = {"symbol": symbol, "decision": decision, "reason": reason, "limit": limit}
    body = _call(
        "GET",
        "/risk/recent-decisions",
        url=url,
        token=None,
        environment=environment,
        params={key: value for key, value in params.items() if value is not None},
    )
    if as_json:
        console.print_json(json.dumps(body))
        return
    table = Table(title=f"{body['count']} recent decision(s)")
    for column in ("time", "decision", "order", "strategy", "reasons"):
        table.add_column(column)
    for item in body["decisions"]:
        colour = "green" if item["decision"] == "approved" else "red"
        table.add_row(
            item["timestamp"],
            f"[{colour}]{item['decision']}[/{colour}]",
            f"{item['side']} {item['quantity']} {item['symbol']}",
            item["strategy_name"] or "",
            "\n".join(item["reasons"]),
        )
    console.print(table)
