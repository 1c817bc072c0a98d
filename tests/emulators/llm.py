"""A local LLM emulator: the OpenAI chat-completions and Ollama chat endpoints with a scripted answer.

    emulator = LlmEmulator(content='{"decision": "veto", "note": "earnings"}', delay_seconds=0)
    with EmulatorServer(emulator.app) as server: ...

`content` is what the model "says"; `delay_seconds` holds every answer back (for timeouts);
`status_code` other than 200 answers with an error. Every request body is kept in `requests`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class LlmEmulator:
    def __init__(
        self, content: str = '{"decision": "allow", "note": "ok"}', delay_seconds: float = 0.0
    ) -> None:
        self.content = content
        self.delay_seconds = delay_seconds
        self.status_code = 200
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._openai)
        self.app.post("/api/chat")(self._ollama)

    async def _answer(self, request: Request) -> JSONResponse | None:
        body = await request.json()
        self.requests.append({"path": request.url.path, "body": body})
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.status_code != 200:
            return JSONResponse({"error": {"message": "emulated failure"}}, status_code=self.status_code)
        return None

    async def _openai(self, request: Request) -> JSONResponse:
        failure = await self._answer(request)
        if failure is not None:
            return failure
        body = self.requests[-1]["body"]
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.content},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    async def _ollama(self, request: Request) -> JSONResponse:
        failure = await self._answer(request)
        if failure is not None:
            return failure
        body = self.requests[-1]["body"]
        return JSONResponse(
            {
                "model": body.get("model", ""),
                "message": {"role": "assistant", "content": self.content},
                "done": True,
            }
        )
