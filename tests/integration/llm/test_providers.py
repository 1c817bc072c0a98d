"""The three providers against the emulator: answers and billed tokens, and each failure named."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulators.llm import LlmEmulator
from tests.emulators.server import EmulatorServer
from tests.integration.llm.models import model
from trader.adapters.llm.providers import CallFailure, ModelCallError

PROVIDERS = ["openai", "ollama", "anthropic"]
PATHS = {"openai": "/v1/chat/completions", "ollama": "/api/chat", "anthropic": "/v1/messages"}


@pytest.fixture
def emulator() -> Iterator[tuple[LlmEmulator, str]]:
    fake = LlmEmulator(content='{"direction": "hold"}')
    with EmulatorServer(fake.app) as server:
        yield fake, server.base_url


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_provider_answers_with_its_tokens(
    emulator: tuple[LlmEmulator, str], provider: str
) -> None:
    fake, url = emulator
    fake.usage = (321, 45)
    async with httpx.AsyncClient() as http:
        reply = await model("m", provider, url, http).complete("system text", "user text")
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ('{"direction": "hold"}', 321, 45)
    sent = fake.requests[-1]
    assert sent["path"] == PATHS[provider]
    assert sent["body"]["model"] == f"{provider}-model"
    if provider == "anthropic":
        assert sent["body"]["output_config"]["format"]["type"] == "json_schema"
        assert sent["body"]["system"] == "system text"
        assert "test-anthropic-key" in str(sent["headers"])
    else:
        options = sent["body"]["options"] if provider == "ollama" else sent["body"]
        assert options["temperature"] == 0
        assert sent["body"]["messages"][0] == {"role": "system", "content": "system text"}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_failures_are_named_and_keys_never_leak(
    emulator: tuple[LlmEmulator, str], provider: str
) -> None:
    fake, url = emulator
    fake.anthropic_key = "sk-very-secret-key"
    async with httpx.AsyncClient() as http:
        chat = model("m", provider, url, http, timeout_seconds=0.5, api_key="sk-very-secret-key")
        fake.status_code = 429
        with pytest.raises(ModelCallError) as limited:
            await chat.complete("s", "u")
        assert limited.value.failure is CallFailure.RATE_LIMITED
        fake.status_code = 500
        with pytest.raises(ModelCallError) as broken:
            await chat.complete("s", "u")
        assert broken.value.failure is CallFailure.HTTP_ERROR
        fake.status_code, fake.delay_seconds = 200, 1.5
        with pytest.raises(ModelCallError) as slow:
            await chat.complete("s", "u")
        assert slow.value.failure is CallFailure.TIMEOUT
        down = model("m", provider, "http://127.0.0.1:9", http, api_key="sk-very-secret-key")
        with pytest.raises(ModelCallError) as unreachable:
            await down.complete("s", "u")
        assert unreachable.value.failure is CallFailure.UNREACHABLE
    for error in (limited, broken, slow, unreachable):
        assert "sk-very-secret-key" not in str(error.value)
