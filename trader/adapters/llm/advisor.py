"""The LLM advisor client: OpenAI-compatible (/v1/chat/completions) or Ollama (/api/chat).

The advisor sees a signal (strategy, symbol, direction, price, recent closes) and answers
{"decision": "allow" | "veto", "note": "..."}. It can only stop or annotate a signal the
strategy already made. Any failure — timeout, connection error, HTTP error, an answer that is
not that JSON — yields the configured fallback ("allow" keeps trading rule-based, "veto" stays
out), with the reason in the note, so an advisor outage never blocks or invents a trade.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from trader.core.llm.decision import DecisionRefusedError, json_object

log = logging.getLogger(__name__)

ALLOW = "allow"
VETO = "veto"
API_STYLES = ("openai", "ollama")
SYSTEM_PROMPT = (
    "You review trading signals from a rule-based or machine-learned strategy for US equities. "
    "You cannot create trades; you may only let a signal through or veto it. Answer with JSON only: "
    '{"decision": "allow" or "veto", "note": "one short sentence why"}.'
)


@dataclass(frozen=True, slots=True)
class AdvisorVerdict:
    decision: str  # "allow" | "veto"
    note: str
    source: str  # "llm" | "fallback"
    latency_ms: float

    @property
    def vetoed(self) -> bool:
        return self.decision == VETO

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "note": self.note,
            "source": self.source,
            "latency_ms": round(self.latency_ms, 1),
        }


class AdvisorAnswerError(ValueError):
    """The advisor answered, but not with the JSON verdict it was asked for."""


def parse_verdict(content: str) -> tuple[str, str]:
    try:
        payload = json_object(content)
    except DecisionRefusedError as error:
        raise AdvisorAnswerError(str(error)) from None
    decision = str(payload.get("decision", "")).strip().lower()
    if decision not in (ALLOW, VETO):
        raise AdvisorAnswerError(f"decision must be allow or veto, got {payload.get('decision')!r}")
    return decision, str(payload.get("note", ""))[:500]


class LlmAdvisor:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_style: str = "openai",
        timeout_seconds: float = 5.0,
        fallback: str = ALLOW,
        api_key: str | None = None,
    ) -> None:
        if api_style not in API_STYLES:
            raise ValueError(f"api_style must be one of {', '.join(API_STYLES)}, got {api_style!r}")
        if fallback not in (ALLOW, VETO):
            raise ValueError(f"fallback must be allow or veto, got {fallback!r}")
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._model = model
        self._api_style = api_style
        self._timeout = timeout_seconds
        self._fallback = fallback
        self._api_key = api_key

    def _request(self, context: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(dict(context), default=str, sort_keys=True)},
        ]
        if self._api_style == "ollama":
            body = {"model": self._model, "messages": messages, "stream": False, "format": "json"}
            return f"{self._base_url}/api/chat", body
        body = {"model": self._model, "messages": messages, "temperature": 0}
        return f"{self._base_url}/v1/chat/completions", body

    def _content(self, payload: Any) -> str:
        try:
            if self._api_style == "ollama":
                return str(payload["message"]["content"])
            return str(payload["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as error:
            raise AdvisorAnswerError(f"unexpected response shape: {error!r}") from error

    async def review(self, context: Mapping[str, Any]) -> AdvisorVerdict:
        started = time.perf_counter()
        url, body = self._request(context)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = await self._http.post(url, json=body, headers=headers, timeout=self._timeout)
            response.raise_for_status()
            decision, note = parse_verdict(self._content(response.json()))
        except httpx.TimeoutException:
            return self._fallback_verdict(f"advisor timed out after {self._timeout:g}s", started)
        except httpx.HTTPStatusError as error:
            return self._fallback_verdict(f"advisor answered HTTP {error.response.status_code}", started)
        except httpx.HTTPError as error:
            return self._fallback_verdict(f"advisor unreachable: {type(error).__name__}", started)
        except (AdvisorAnswerError, ValueError) as error:
            return self._fallback_verdict(f"advisor answer unusable: {error}", started)
        return AdvisorVerdict(decision, note, "llm", (time.perf_counter() - started) * 1000)

    def _fallback_verdict(self, reason: str, started: float) -> AdvisorVerdict:
        log.warning("LLM advisor fallback (%s): %s", self._fallback, reason)
        return AdvisorVerdict(self._fallback, reason, "fallback", (time.perf_counter() - started) * 1000)
