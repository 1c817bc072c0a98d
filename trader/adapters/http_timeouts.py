"""A requests transport adapter that imposes our timeouts on SDKs that fix theirs or set none.

twelvedata's client always passes 30 s and alpaca-py passes no timeout at all; mounted on their
session, this makes a hung provider or broker cost seconds, not a stuck worker. Retries stay off:
whether to retry is the caller's decision (an order POST must never be retried blindly).
"""

from __future__ import annotations

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter

Timeout = float | tuple[float, float]


class TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout: Timeout) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

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
            request, stream=stream, timeout=self.timeout, verify=verify, cert=cert, proxies=proxies
        )


def apply_timeout(session: Session, timeout: Timeout) -> None:
    """`timeout` in seconds, or (connect, read)."""
    adapter = TimeoutAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
