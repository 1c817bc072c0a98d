"""The dashboard's actions on other services, relayed on the same origin with the caller's token.

Only the actions listed here are relayed, each to one fixed endpoint with a checked target, so
the relay cannot be aimed anywhere else. The token is checked here first (a refusal is audited
here) and forwarded unchanged, so the owning service authorises and audits the change itself;
this service audits the relayed call with its outcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from trader.settings import Settings

RELAY_TIMEOUT_SECONDS = 20.0
MAX_ERROR_BODY = 600


@dataclass(frozen=True, slots=True)
class Action:
    service: str
    method: str
    path: str  # with {target}
    target: re.Pattern[str]
    target_meaning: str


_STRATEGY_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_ORDER_ID = re.compile(r"^[1-9][0-9]{0,17}$")
_SYMBOL = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,9}([.\-/][A-Za-z0-9]{1,4})?$")

ACTIONS: dict[str, Action] = {
    "strategy-pause": Action(
        "strategy_engine", "POST", "/strategies/{target}/disable", _STRATEGY_NAME, "a strategy name"
    ),
    "strategy-resume": Action(
        "strategy_engine", "POST", "/strategies/{target}/enable", _STRATEGY_NAME, "a strategy name"
    ),
    "order-cancel": Action("trade_executor", "DELETE", "/orders/{target}", _ORDER_ID, "an order id"),
    "position-close": Action(
        "trade_executor", "POST", "/positions/{target}/close", _SYMBOL, "a symbol such as AAPL"
    ),
}


@dataclass(frozen=True, slots=True)
class Relayed:
    status_code: int
    payload: Any


class BadTargetError(ValueError):
    pass


def checked_target(action: Action, target: object) -> str:
    if not isinstance(target, str) or not action.target.fullmatch(target):
        raise BadTargetError(f"target must be {action.target_meaning}, got {target!r}")
    return target


async def relay(
    http: httpx.AsyncClient, settings: Settings, action: Action, target: str, authorization: str | None
) -> Relayed:
    """The owning service's answer: its JSON and status for 2xx/4xx; a 502 describing anything else."""
    url = settings.url_of(action.service) + action.path.format(target=target)
    where = f"{action.service} {action.method} {action.path.format(target=target)}"
    headers = {"Authorization": authorization} if authorization else {}
    try:
        response = await http.request(action.method, url, headers=headers, timeout=RELAY_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        return Relayed(502, {"detail": f"{where}: {type(error).__name__}; the action may not have happened"})
    try:
        payload = response.json()
    except ValueError:
        payload = {"detail": response.text[:MAX_ERROR_BODY]}
    if response.status_code >= 500:
        detail = payload.get("detail") if isinstance(payload, dict) else None
        return Relayed(502, {"detail": f"{where}: HTTP {response.status_code}: {detail or payload}"})
    return Relayed(response.status_code, payload)
