"""Chat models behind one small port: an OpenAI-compatible server, Ollama, or Anthropic's API.

Each answers `complete(system, user)` with the text and the tokens it billed, or raises
ModelCallError saying what went wrong (timeout, rate limited, HTTP error, unreachable, a reply
without text). Nothing is retried here: a decision belongs to its bar, and the strategy falls back
rather than ask late. Keys are secrets: they go in a header and nowhere else (not in errors, logs
or the record).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from trader.core.llm.decision import DECISION_SCHEMA
from trader.settings import LlmModelSettings, LlmProvider, Settings

log = logging.getLogger("trader.adapters.llm")


class CallFailure(enum.StrEnum):
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    HTTP_ERROR = "http_error"
    UNREACHABLE = "unreachable"
    BAD_RESPONSE = "bad_response"


class ModelCallError(Exception):
    """The model gave no answer; `failure` says why (the message never holds a key)."""

    def __init__(self, failure: CallFailure, message: str) -> None:
        super().__init__(f"{failure.value}: {message}")
        self.failure = failure


@dataclass(frozen=True, slots=True)
class ModelReply:
    text: str
    input_tokens: int
    output_tokens: int


class ChatModel(Protocol):
    @property
    def spec(self) -> LlmModelSettings: ...

    async def complete(self, system: str, user: str) -> ModelReply: ...


def _status_failure(status: int) -> CallFailure:
    return CallFailure.RATE_LIMITED if status == 429 else CallFailure.HTTP_ERROR


class _HttpChatModel:
    """The JSON-over-HTTP providers (OpenAI-compatible and Ollama): the same request with each
    one's path and options, the same error handling; each reads its own reply shape."""

    path = ""

    def __init__(self, http: httpx.AsyncClient, spec: LlmModelSettings) -> None:
        self._http = http
        self._spec = spec

    @property
    def spec(self) -> LlmModelSettings:
        return self._spec

    def _headers(self) -> dict[str, str]:
        key = self._spec.api_key
        return {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def _options(self) -> dict[str, Any]:
        raise NotImplementedError

    def _read(self, payload: Any) -> ModelReply:
        raise NotImplementedError

    async def complete(self, system: str, user: str) -> ModelReply:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        payload = await self._post({"model": self._spec.model, "messages": messages, **self._options()})
        try:
            return self._read(payload)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise ModelCallError(CallFailure.BAD_RESPONSE, f"unexpected reply shape: {error!r}") from None

    async def _post(self, body: dict[str, Any]) -> Any:
        url = f"{self._spec.url.rstrip('/')}{self.path}"
        try:
            response = await self._http.post(
                url, json=body, headers=self._headers(), timeout=self._spec.timeout_seconds
            )
        except httpx.TimeoutException:
            raise ModelCallError(
                CallFailure.TIMEOUT, f"no answer within {self._spec.timeout_seconds:g}s"
            ) from None
        except httpx.HTTPError as error:
            raise ModelCallError(CallFailure.UNREACHABLE, type(error).__name__) from None
        if response.status_code != 200:
            raise ModelCallError(
                _status_failure(response.status_code), f"HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            raise ModelCallError(CallFailure.BAD_RESPONSE, "the reply is not JSON") from None


class OpenAICompatibleModel(_HttpChatModel):
    path = "/v1/chat/completions"

    def _options(self) -> dict[str, Any]:
        return {
            "temperature": 0,
            "max_tokens": self._spec.max_output_tokens,
            "response_format": {"type": "json_object"},
        }

    def _read(self, payload: Any) -> ModelReply:
        usage = payload.get("usage") or {}
        return ModelReply(
            str(payload["choices"][0]["message"]["content"]),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        )


class OllamaModel(_HttpChatModel):
    path = "/api/chat"

    def _options(self) -> dict[str, Any]:
        return {
            "stream": False,
            # Ollama constrains the reply to a JSON schema given as `format`.
            "format": DECISION_SCHEMA,
            "options": {"temperature": 0, "num_predict": self._spec.max_output_tokens},
        }

    def _read(self, payload: Any) -> ModelReply:
        return ModelReply(
            str(payload["message"]["content"]),
            int(payload.get("prompt_eval_count", 0)),
            int(payload.get("eval_count", 0)),
        )


# Structured outputs take types and enums but not numeric bounds; parse_decision checks those.
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "maxLength")
_PLAIN_SCHEMA: dict[str, Any] = {
    **DECISION_SCHEMA,
    "properties": {
        name: {key: value for key, value in rule.items() if key not in _BOUNDS}
        for name, rule in DECISION_SCHEMA["properties"].items()
    },
}


class AnthropicModel:
    """Anthropic's Messages API through its official SDK (retries off: the strategy falls back).

    The SDK takes no sampling temperature for current models; a replayed answer, not a zero
    temperature, is what makes a backtest repeat itself."""

    def __init__(self, spec: LlmModelSettings, api_key: str) -> None:
        # Imported here: the SDK's types take seconds to import, which every strategy engine
        # would pay at start even with no Anthropic model configured.
        import anthropic

        self._spec = spec
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=spec.url or None,
            timeout=spec.timeout_seconds,
            max_retries=0,
        )

    @property
    def spec(self) -> LlmModelSettings:
        return self._spec

    async def complete(self, system: str, user: str) -> ModelReply:
        import anthropic

        try:
            message = await self._client.messages.create(
                model=self._spec.model,
                max_tokens=self._spec.max_output_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                output_config={"format": {"type": "json_schema", "schema": _PLAIN_SCHEMA}},
            )
        except anthropic.APITimeoutError:
            raise ModelCallError(
                CallFailure.TIMEOUT, f"no answer within {self._spec.timeout_seconds:g}s"
            ) from None
        except anthropic.APIConnectionError as error:
            raise ModelCallError(CallFailure.UNREACHABLE, type(error).__name__) from None
        except anthropic.APIStatusError as error:
            raise ModelCallError(
                _status_failure(error.status_code), f"HTTP {error.status_code}: {str(error)[:200]}"
            ) from None
        text = "".join(
            block.text for block in message.content if isinstance(block, anthropic.types.TextBlock)
        )
        return ModelReply(text, message.usage.input_tokens, message.usage.output_tokens)

    async def close(self) -> None:
        await self._client.close()


def build_model(spec: LlmModelSettings, http: httpx.AsyncClient, anthropic_key: str | None) -> ChatModel:
    if spec.provider is LlmProvider.OPENAI:
        return OpenAICompatibleModel(http, spec)
    if spec.provider is LlmProvider.OLLAMA:
        return OllamaModel(http, spec)
    key = spec.api_key.get_secret_value() if spec.api_key else anthropic_key
    if not key:
        raise ValueError(f"LLM model {spec.name} (anthropic) needs an api_key or ANTHROPIC_API_KEY")
    return AnthropicModel(spec, key)


def build_models(settings: Settings, http: httpx.AsyncClient) -> list[ChatModel]:
    """The llm strategy's panel from LLM_MODELS; a model that cannot be built is left out, loudly
    (a configuration naming it then fails with 'unknown LLM model' wherever it is used)."""
    anthropic_key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    models: list[ChatModel] = []
    try:
        specs: Sequence[LlmModelSettings] = settings.effective_llm_models
    except ValueError as error:  # LLM_API_STYLE names no provider: the llm strategy has no model
        log.error("no LLM model: %s", error)
        return models
    for spec in specs:
        try:
            models.append(build_model(spec, http, anthropic_key))
        except ValueError as error:
            log.error("LLM model %s left out: %s", spec.name, error)
    return models
