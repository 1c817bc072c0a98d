"""A requests adapter that forces a short timeout, for clients whose SDK fixes (or omits) it.

twelvedata's DefaultHttpClient always passes timeout=30 and alpaca-py passes none; mounting this on
their session (`session.mount("http://", ShortTimeoutAdapter(0.2))`) lets a test see a client give up.
"""

from __future__ import annotations

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter


class ShortTimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        return super().send(
            request, stream=stream, timeout=self.timeout_seconds, verify=verify, cert=cert, proxies=proxies
        )
