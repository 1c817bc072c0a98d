"""bench.live traces each order POST to its bar by the signal time in the client order id, and
reads where the time goes from the services' own log lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.live.__main__ import MINUTE, signal_time, stage_offsets
from trader.core.client_order_ids import make_client_order_id


def test_the_signal_time_is_read_back_from_a_client_order_id() -> None:
    at = datetime(2024, 6, 12, 14, 1, tzinfo=UTC)
    for strategy, symbol, intent in (("default", "AAPL", "buy"), ("a-long-strategy-name", "BRK.B", "sell")):
        assert signal_time(make_client_order_id(strategy, symbol, at, intent)) == at
    assert signal_time("manual-order-without-a-time") is None


def test_stage_offsets_take_each_minutes_last_line_before_the_next_publication(tmp_path: Path) -> None:
    bar = datetime(2024, 6, 12, 14, 0, tzinfo=UTC)
    published_at = datetime(2026, 12, 7, 21, 0, 0).timestamp()  # the services log local wall time
    logs = tmp_path / "logs"
    logs.mkdir()

    def line(seconds: float, text: str) -> str:
        moment = datetime.fromtimestamp(published_at) + timedelta(seconds=seconds)
        return f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d} INFO x: {text}\n"

    (logs / "strategy_engine.log").write_text(
        line(0.1, "signal buy A at 1") + line(0.3, "signal sell B at 1") + line(61, "signal buy C at 1")
    )
    (logs / "risk_manager.log").write_text(line(0.5, "approved buy 1 A (default)"))
    offsets = stage_offsets(
        logs, {bar: published_at, bar + MINUTE: published_at + 60}, {bar}, [published_at + 0.9]
    )
    assert {stage: [round(value, 3) for value in values] for stage, values in offsets.items()} == {
        "signals logged": [0.3],
        "decisions logged": [0.5],
        "orders posted": [0.9],
    }
