"""A local LLM emulator: OpenAI chat completions, Ollama chat and Anthropic's Messages API.

    emulator = LlmEmulator(content='{"decision": "veto", "note": "earnings"}', delay_seconds=0)
    with EmulatorServer(emulator.app) as server: ...

`content` is what the model "says": a string, or a function of the user's prompt text (so answers
follow the prompt deterministically, e.g. `trend_answer`). `delay_seconds` holds every answer back
(timeouts); `status_code` other than 200 answers with that error in the provider's own error shape
(429 as a rate limit). `usage` is the (input, output) tokens billed per answer. Every request body
is kept in `requests`. Anthropic requests must carry `anthropic_key` as `x-api-key` or as a Bearer
token (the SDK sends the latter), else 401 as the API answers.

Formats: OpenAI's chat completion object (choices[0].message.content, usage.prompt_tokens /
completion_tokens); Ollama's /api/chat reply (message.content, prompt_eval_count, eval_count); the
Messages API's message (content blocks of type text, usage.input_tokens / output_tokens) and its
error envelope {"type": "error", "error": {"type": "rate_limit_error", ...}}, as the official SDK
parses them (anthropic's types.Message and _exceptions).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

Answer = str | Callable[[str], str]
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def user_text(path: str, body: dict[str, Any]) -> str:
    """The user's prompt text of a request in any of the three formats."""
    messages = body.get("messages") or []
    users = [message for message in messages if message.get("role") == "user"]
    if not users:
        return ""
    content = users[-1].get("content", "")
    if isinstance(content, list):  # Anthropic content blocks
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content)


def prompt_context(text: str) -> dict[str, Any]:
    """The context JSON the llm strategy embeds in its prompt."""
    return json.loads(text.split("Context (JSON): ", 1)[1])


def trend_answer(text: str) -> str:
    """A deterministic analyst: buy above the 20-bar average when flat (stop 5% below, target 10%
    above), sell below it when long, hold otherwise. Same prompt, same answer."""
    context = prompt_context(text)
    price = Decimal(context["price"])
    average = context["indicators"].get("sma_20")
    long = Decimal(context["position"]["quantity"]) > 0
    direction = "hold"
    if average is not None and price > Decimal(average) and not long:
        direction = "buy"
    elif average is not None and price < Decimal(average) and long:
        direction = "sell"
    buying = direction == "buy"
    return json.dumps(
        {
            "direction": direction,
            "confidence": 0.8,
            "stop_price": float(round(price * Decimal("0.95"), 2)) if buying else None,
            "target_price": float(round(price * Decimal("1.10"), 2)) if buying else None,
            "horizon_bars": 5,
            "rationale": f"close {price} against its 20-bar average {average}",
        }
    )


class LlmEmulator:
    def __init__(
        self,
        content: Answer = '{"decision": "allow", "note": "ok"}',
        delay_seconds: float = 0.0,
        *,
        anthropic_key: str = "test-anthropic-key",
    ) -> None:
        self.content: Answer = content
        self.delay_seconds = delay_seconds
        self.status_code = 200
        self.usage = (120, 30)
        self.anthropic_key = anthropic_key
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._openai)
        self.app.post("/api/chat")(self._ollama)
        self.app.post("/v1/messages")(self._anthropic)

    def answers(self, path: str | None = None) -> int:
        """Requests received (on one path, or all)."""
        return sum(1 for request in self.requests if path is None or request["path"] == path)

    async def _receive(self, request: Request) -> tuple[dict[str, Any], str]:
        body = await request.json()
        self.requests.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        text = user_text(request.url.path, body)
        return body, self.content(text) if callable(self.content) else self.content

    async def _openai(self, request: Request) -> JSONResponse:
        body, content = await self._receive(request)
        if self.status_code != 200:
            return JSONResponse({"error": {"message": "emulated failure"}}, status_code=self.status_code)
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": self.usage[0],
                    "completion_tokens": self.usage[1],
                    "total_tokens": sum(self.usage),
                },
            }
        )

    async def _ollama(self, request: Request) -> JSONResponse:
        body, content = await self._receive(request)
        if self.status_code != 200:
            return JSONResponse({"error": "emulated failure"}, status_code=self.status_code)
        return JSONResponse(
            {
                "model": body.get("model", ""),
                "message": {"role": "assistant", "content": content},
                "done": True,
                "prompt_eval_count": self.usage[0],
                "eval_count": self.usage[1],
            }
        )

    async def _anthropic(self, request: Request) -> JSONResponse:
        if self.anthropic_key not in (
            request.headers.get("x-api-key"),
            request.headers.get("authorization", "").removeprefix("Bearer "),
        ):
            return _anthropic_error(401, "invalid x-api-key")
        body, content = await self._receive(request)
        if self.status_code != 200:
            return _anthropic_error(self.status_code, "emulated failure")
        return JSONResponse(
            {
                "id": f"msg_{len(self.requests):024d}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", ""),
                "content": [{"type": "text", "text": content}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": self.usage[0], "output_tokens": self.usage[1]},
            }
        )


def _anthropic_error(status: int, message: str) -> JSONResponse:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error")
    return JSONResponse(
        {"type": "error", "error": {"type": kind, "message": message}},
        status_code=status,
        headers={"retry-after": "1"} if status == 429 else None,
    )
