"""Market-data provider errors. The class says what the caller should do (after freqtrade's style).

- `CreditsExhaustedError`: the plan's allowance is spent; wait until `retry_at`, use the backup meanwhile.
- `ProviderUnavailableError`: 5xx, timeout, connection refused; retry later with backoff, fail over now.
- `MalformedResponseError`: the answer could not be read; the provider is misbehaving, fail over.
- `ProviderAuthError`: the key is wrong or lacks a permission; never retry until an operator fixes it.
- `SymbolNotFoundError`: the provider does not know the symbol; not a provider fault, do not fail over.
"""

from __future__ import annotations

from datetime import datetime

import requests


class ProviderError(RuntimeError):
    """Base class; `provider` names who failed."""

    kind = "error"

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.detail = message


class CreditsExhaustedError(ProviderError):
    kind = "credits_exhausted"

    def __init__(self, provider: str, message: str, retry_at: datetime) -> None:
        super().__init__(provider, message)
        self.retry_at = retry_at


class ProviderUnavailableError(ProviderError):
    kind = "unavailable"


class MalformedResponseError(ProviderError):
    kind = "malformed_response"


class ProviderAuthError(ProviderError):
    kind = "authentication"


class SymbolNotFoundError(ProviderError):
    kind = "symbol_not_found"


def transport_error(provider: str, error: Exception, timeout_seconds: float) -> ProviderError | None:
    """A `requests` failure under an SDK as ours; None when `error` is not one (the SDK's own kind)."""
    if isinstance(error, requests.Timeout):
        return ProviderUnavailableError(provider, f"timed out after {timeout_seconds:g}s")
    if isinstance(error, requests.JSONDecodeError):
        return MalformedResponseError(provider, f"the answer is not JSON: {error}")
    if isinstance(error, requests.RequestException):
        return ProviderUnavailableError(provider, f"request failed: {type(error).__name__}: {error}")
    return None
