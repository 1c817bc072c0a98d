"""The LLM advisor against a local emulator: verdicts, both API styles, timeout and failure fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulators.llm import LlmEmulator
from tests.emulators.server import EmulatorServer
from trader.adapters.llm.advisor import LlmAdvisor, parse_verdict

CONTEXT = {"strategy": "default", "symbol": "AAPL", "direction": "buy", "price": "101.5"}


@pytest.fixture
def emulator() -> Iterator[tuple[LlmEmulator, str]]:
    fake = LlmEmulator()
    with EmulatorServer(fake.app) as server:
        yield fake, server.base_url


@pytest.mark.parametrize("api_style", ["openai", "ollama"])
async def test_the_advisor_can_veto_or_allow(emulator: tuple[LlmEmulator, str], api_style: str) -> None:
    fake, url = emulator
    async with httpx.AsyncClient() as http:
        advisor = LlmAdvisor(http, base_url=url, model="m1", api_style=api_style, timeout_seconds=5)
        fake.content = '{"decision": "veto", "note": "earnings tomorrow"}'
        verdict = await advisor.review(CONTEXT)
        assert (verdict.decision, verdict.note, verdict.source) == ("veto", "earnings tomorrow", "llm")
        fake.content = '```json\n{"decision": "ALLOW", "note": "fine"}\n```'
        assert (await advisor.review(CONTEXT)).decision == "allow"
    sent = fake.requests[0]
    assert sent["path"] == ("/api/chat" if api_style == "ollama" else "/v1/chat/completions")
    assert sent["body"]["model"] == "m1"
    assert '"symbol": "AAPL"' in sent["body"]["messages"][1]["content"]


@pytest.mark.parametrize("fallback", ["allow", "veto"])
async def test_timeouts_and_failures_fall_back(emulator: tuple[LlmEmulator, str], fallback: str) -> None:
    fake, url = emulator
    async with httpx.AsyncClient() as http:
        advisor = LlmAdvisor(http, base_url=url, model="m", timeout_seconds=0.3, fallback=fallback)
        fake.delay_seconds = 1.0
        slow = await advisor.review(CONTEXT)
        assert (slow.decision, slow.source) == (fallback, "fallback") and "timed out" in slow.note
        assert slow.latency_ms < 900
        fake.delay_seconds = 0.0
        fake.status_code = 500
        broken = await advisor.review(CONTEXT)
        assert broken.source == "fallback" and "HTTP 500" in broken.note
        fake.status_code = 200
        fake.content = "I think you should buy!"
        rambling = await advisor.review(CONTEXT)
        assert rambling.source == "fallback" and "not JSON" in rambling.note
        unreachable = LlmAdvisor(http, base_url="http://127.0.0.1:9", model="m", fallback=fallback)
        down = await unreachable.review(CONTEXT)
        assert down.decision == fallback and "unreachable" in down.note


def test_parse_verdict_refuses_anything_but_allow_or_veto() -> None:
    assert parse_verdict('{"decision": "veto"}') == ("veto", "")
    with pytest.raises(ValueError, match="allow or veto"):
        parse_verdict('{"decision": "buy"}')
