"""Alpaca's News (/v1beta1/news) and Screener (most actives, movers) endpoints for the emulator,
and the news websocket (msgpack, as alpaca-py's NewsDataStream speaks it).

`AlpacaEmulator` serves `NewsAndScreener.routes(...)` beside its other routes (its `news`
attribute); tests seed articles with `add_article` and the screener lists with `set_most_actives` /
`set_movers`. `NewsStreamEmulator().app` is served on its own `EmulatorServer` (a websocket route at
/v1beta1/news); `publish(article)` pushes an article to every subscribed connection and
`disconnect_all()` drops them (the SDK reconnects by itself).

Formats:
- alpaca_data_openapi.yaml (`/v1beta1/news`, `GetNewsResponse`, `News`; `/v1beta1/screener/{market_type}
  /movers`, `MarketMoversResponse`, `MarketMoverAsset`): parameters start, end, symbols, limit (the spec
  says 10 by default; alpaca-py asks 50 per page), sort (DESC default) by updated date, include_content,
  exclude_contentless, page_token; the example page token is base64 of "<updated_at ns>|<id>", which
  this emulator reproduces. Our choice, not sourced: start/end filter on created_at, inclusive.
- alpaca-py's models (`alpaca/data/models/screener.py`): most actives are
  {"most_actives": [{"symbol", "volume", "trade_count"}], "last_updated"}, asked by `by` (volume or
  trades) and `top`.
- alpaca-py's websocket client (`alpaca/data/live/websocket.py`): msgpack frames that are lists of
  messages; [{"T": "success", "msg": "connected"}] on connect, "authenticated" after
  {"action": "auth", "key", "secret"} (else {"T": "error", "code": 402, "msg": "auth failed"}),
  {"T": "subscription", "news": [...]} after a subscribe, and news as {"T": "n", ...} with
  created_at/updated_at as msgpack timestamps (the client calls `.to_datetime()` on them).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import msgpack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

Handler = Callable[[Request], Awaitable[Response]]
MAX_NEWS_LIMIT = 50
DEFAULT_NEWS_LIMIT = 10


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    headline: str
    created_at: datetime
    updated_at: datetime
    symbols: tuple[str, ...]
    summary: str = ""
    content: str = ""
    author: str = "Emulated Author"
    source: str = "benzinga"
    url: str | None = None

    def as_json(self, include_content: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "headline": self.headline,
            "author": self.author,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "summary": self.summary,
            "content": self.content if include_content else "",
            "url": self.url,
            "images": [],
            "symbols": list(self.symbols),
            "source": self.source,
        }

    def stream_message(self) -> dict[str, Any]:
        body = self.as_json(include_content=True)
        body.pop("images")
        return {
            **body,
            "T": "n",
            "created_at": msgpack.Timestamp.from_datetime(self.created_at),
            "updated_at": msgpack.Timestamp.from_datetime(self.updated_at),
        }


def _moment(raw: str | None, end_of_day: bool) -> datetime | None:
    if not raw:
        return None
    if len(raw) == 10:
        day = date.fromisoformat(raw)
        return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def _token(article: Article) -> str:
    nanoseconds = int(article.updated_at.timestamp()) * 1_000_000_000
    return base64.b64encode(f"{nanoseconds}|{article.id}".encode()).decode()


@dataclass
class NewsAndScreener:
    articles: list[Article] = field(default_factory=list)
    most_actives: list[dict[str, Any]] = field(default_factory=list)
    gainers: list[dict[str, Any]] = field(default_factory=list)
    losers: list[dict[str, Any]] = field(default_factory=list)
    last_updated: datetime = field(default_factory=lambda: datetime(2024, 1, 2, 15, 0, tzinfo=UTC))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_article(self, article: Article) -> None:
        with self._lock:
            self.articles.append(article)

    def set_most_actives(self, rows: list[tuple[str, float, float]]) -> None:
        """(symbol, volume, trade_count) per row, most active first."""
        with self._lock:
            self.most_actives = [{"symbol": s, "volume": v, "trade_count": t} for s, v, t in rows]

    def set_movers(
        self, gainers: list[tuple[str, float, float, float]], losers: list[tuple[str, float, float, float]]
    ) -> None:
        """(symbol, percent_change, change, price) per row, biggest first."""

        def rows(items: list[tuple[str, float, float, float]]) -> list[dict[str, Any]]:
            return [{"symbol": s, "percent_change": p, "change": c, "price": x} for s, p, c, x in items]

        with self._lock:
            self.gainers, self.losers = rows(gainers), rows(losers)

    def routes(self, guarded: Callable[[Handler], Any]) -> list[Route]:
        return [
            Route("/v1beta1/news", guarded(self._news)),
            Route("/v1beta1/screener/stocks/most-actives", guarded(self._most_actives)),
            Route("/v1beta1/screener/{market_type}/movers", guarded(self._movers)),
        ]

    async def _news(self, request: Request) -> Response:
        query = request.query_params
        try:
            start = _moment(query.get("start"), end_of_day=False)
            end = _moment(query.get("end"), end_of_day=True)
            limit = int(query.get("limit") or DEFAULT_NEWS_LIMIT)
        except ValueError as error:
            return JSONResponse({"code": 42210000, "message": f"invalid parameter: {error}"}, status_code=422)
        if not 1 <= limit <= MAX_NEWS_LIMIT:
            return JSONResponse({"code": 42210000, "message": "invalid limit"}, status_code=422)
        wanted = {s.strip().upper() for s in (query.get("symbols") or "").split(",") if s.strip()}
        descending = (query.get("sort") or "DESC").upper() != "ASC"
        include_content = query.get("include_content", "").lower() == "true"
        with self._lock:
            chosen = [
                article
                for article in self.articles
                if (not wanted or wanted & set(article.symbols))
                and (start is None or article.created_at >= start)
                and (end is None or article.created_at <= end)
                and (query.get("exclude_contentless", "").lower() != "true" or article.content)
            ]
        chosen.sort(key=lambda a: (a.updated_at, a.id), reverse=descending)
        offset = 0
        if query.get("page_token"):
            tokens = [_token(article) for article in chosen]
            offset = tokens.index(query["page_token"]) + 1 if query["page_token"] in tokens else len(chosen)
        page = chosen[offset : offset + limit]
        more = offset + limit < len(chosen)
        return JSONResponse(
            {
                "news": [article.as_json(include_content) for article in page],
                "next_page_token": _token(page[-1]) if more and page else None,
            }
        )

    async def _most_actives(self, request: Request) -> Response:
        top = int(request.query_params.get("top") or 10)
        with self._lock:
            rows = list(self.most_actives[:top])
        return JSONResponse({"most_actives": rows, "last_updated": _stamp(self.last_updated)})

    async def _movers(self, request: Request) -> Response:
        if request.path_params["market_type"] not in ("stocks", "crypto"):
            return JSONResponse({"message": "invalid market type"}, status_code=422)
        top = int(request.query_params.get("top") or 10)
        with self._lock:
            gainers, losers = list(self.gainers[:top]), list(self.losers[:top])
        return JSONResponse(
            {
                "gainers": gainers,
                "losers": losers,
                "market_type": request.path_params["market_type"],
                "last_updated": _stamp(self.last_updated),
            }
        )


class NewsStreamEmulator:
    def __init__(self, api_key: str = "test-alpaca-key", secret_key: str = "test-alpaca-secret") -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.connections = 0
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[bytes | None]]] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[WebSocketRoute("/v1beta1/news", self._serve)])

    @property
    def subscribed(self) -> int:
        with self._lock:
            return len(self._queues)

    def publish(self, article: Article) -> None:
        frame = msgpack.packb([article.stream_message()], datetime=False)
        with self._lock:
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, frame)

    def disconnect_all(self) -> None:
        with self._lock:
            for loop, queue in self._queues:
                loop.call_soon_threadsafe(queue.put_nowait, None)

    async def _serve(self, socket: WebSocket) -> None:
        await socket.accept()
        self.connections += 1
        await socket.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await socket.receive_bytes())
        if auth.get("key") != self.api_key or auth.get("secret") != self.secret_key:
            await socket.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await socket.close()
            return
        await socket.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        subscribe = msgpack.unpackb(await socket.receive_bytes())
        await socket.send_bytes(msgpack.packb([{"T": "subscription", "news": subscribe.get("news", [])}]))
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._queues.append(entry)
        try:
            while (frame := await queue.get()) is not None:
                await socket.send_bytes(frame)
            await socket.close()
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                self._queues.remove(entry)
