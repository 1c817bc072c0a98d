"""A requests transport adapter with a fixed timeout, for SDKs that hard-code theirs (twelvedata: 30 s)
or send none (alpaca-py), so a hung provider costs seconds, not the collector's whole cycle."""

from __future__ import annotations

from requests import PreparedRequest, Response, Session
from requests.adapters import HTTPAdapter


class TimeoutAdapter(HTTPAdapter):
    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(max_retries=0)
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


def apply_timeout(session: Session, timeout_seconds: float) -> None:
    adapter = TimeoutAdapter(timeout_seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
