"""What the Telegram bot says, and its settings: readable figures, refused configurations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trader.services.maintenance_service.chatops import replies
from trader.settings import Settings


def test_figures_read_like_a_trader_writes_them() -> None:
    assert replies.money("5165.480000000000000000") == "$5,165.48"
    assert replies.money("-45.1", signed=True) == "-$45.10"
    assert replies.money("12.3", signed=True) == "+$12.30"
    assert replies.quantity("116.000000000") == "116"
    assert replies.quantity("0.50000") == "0.5"
    assert replies.percent("-0.000451", signed=True) == "-0.05 %"
    assert replies.money(None) == "—"


def test_orders_lists_only_the_open_ones() -> None:
    orders = [
        {"id": 7, "side": "sell", "quantity": "4.000", "symbol": "AAPL", "order_type": "stop",
         "stop_price": "95.50", "limit_price": None, "status": "accepted"},
        {"id": 6, "side": "buy", "quantity": "10", "symbol": "AAPL", "order_type": "market",
         "stop_price": None, "limit_price": None, "status": "filled"},
    ]  # fmt: skip
    assert replies.orders_text(orders) == "#7 sell 4 AAPL stop @ $95.50 · accepted"
    assert replies.orders_text(orders[1:]) == "No open order."
    assert replies.positions_text([]) == "No open position."


def test_chat_ids_are_parsed_and_a_bot_without_chats_is_refused() -> None:
    settings = Settings(_env_file=None, telegram_bot_token="1:x", telegram_chat_ids="42, -100123")
    assert settings.telegram_chat_ids == [42, -100123]
    with pytest.raises(ValidationError, match="TELEGRAM_CHAT_IDS is not"):
        Settings(_env_file=None, telegram_bot_token="1:x")
    with pytest.raises(ValidationError, match="comma-separated chat ids"):
        Settings(_env_file=None, telegram_chat_ids="alice")
    assert "1:x" not in repr(settings)
