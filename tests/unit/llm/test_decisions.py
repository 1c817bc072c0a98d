"""The pure side of the llm strategy: answers refused by rule, consensus, point-in-time context,
prompt hashes, signals from a consensus, knowledge cutoffs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from trader.core.llm.consensus import Vote, weighted_consensus
from trader.core.llm.context import Holding, decision_context
from trader.core.llm.cutoff import cutoff_breaches
from trader.core.llm.decision import Decision, DecisionRefusedError, Direction, RefusalCode, parse_decision
from trader.core.llm.prompt import build_prompt
from trader.core.llm.strategy import LlmStrategySettings, llm_signal
from trader.core.market import Bar, Timeframe
from trader.core.news import InvalidNewsError, NewsItem, known_at
from trader.core.strategies import SignalDirection

PRICE = Decimal("100")
T0 = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)


def _answer(**changes: Any) -> str:
    answer = {
        "direction": "buy",
        "confidence": 0.7,
        "stop_price": 95,
        "target_price": 110.5,
        "horizon_bars": 5,
        "rationale": "trend",
    }
    answer.update(changes)
    return json.dumps(answer)


def test_a_valid_answer_is_a_decision() -> None:
    decision = parse_decision("```json\n" + _answer() + "\n```", PRICE)
    assert decision == Decision(Direction.BUY, Decimal("0.7"), Decimal(95), Decimal("110.5"), 5, "trend")
    sell = parse_decision(_answer(direction="SELL", stop_price=None, target_price=None), PRICE)
    assert (sell.direction, sell.stop_price) == (Direction.SELL, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("buy it", RefusalCode.NOT_JSON),
        ("[1, 2]", RefusalCode.NOT_AN_OBJECT),
        ('{"direction": "buy"}', RefusalCode.MISSING_FIELD),
        (_answer(extra=1), RefusalCode.UNKNOWN_FIELD),
        (_answer(direction="short"), RefusalCode.BAD_DIRECTION),
        (_answer(confidence=1.5), RefusalCode.BAD_CONFIDENCE),
        (_answer(confidence="high"), RefusalCode.BAD_CONFIDENCE),
        (_answer(stop_price=-1), RefusalCode.BAD_PRICE),
        (_answer(stop_price=True), RefusalCode.BAD_PRICE),
        (_answer(stop_price=100), RefusalCode.STOP_NOT_BELOW_PRICE),
        (_answer(stop_price=120), RefusalCode.STOP_NOT_BELOW_PRICE),
        (_answer(target_price=99), RefusalCode.TARGET_NOT_ABOVE_PRICE),
        (_answer(horizon_bars=0), RefusalCode.BAD_HORIZON),
        (_answer(horizon_bars=2.5), RefusalCode.BAD_HORIZON),
        (_answer(rationale=["a"]), RefusalCode.BAD_RATIONALE),
    ],
)
def test_answers_off_the_schema_are_refused_with_a_code(text: str, code: RefusalCode) -> None:
    with pytest.raises(DecisionRefusedError) as refused:
        parse_decision(text, PRICE)
    assert refused.value.code is code


def _decision(
    direction: str, confidence: str, stop: int | None = None, target: int | None = None
) -> Decision:
    return Decision(
        Direction(direction),
        Decimal(confidence),
        None if stop is None else Decimal(stop),
        None if target is None else Decimal(target),
        3,
        "",
    )


def test_the_weighted_consensus_needs_agreement_and_a_quorum() -> None:
    votes = [
        Vote("a", Decimal(2), _decision("buy", "0.9", 90, 120)),
        Vote("b", Decimal(1), _decision("buy", "0.6", 96, 111)),
        Vote("c", Decimal(1), _decision("hold", "0.8")),
    ]
    consensus = weighted_consensus(votes, quorum=Decimal("0.5"))
    assert consensus is not None
    assert (consensus.direction, consensus.agreeing) == (Direction.BUY, ("a", "b"))
    assert consensus.confidence == Decimal("0.6")  # (2*0.9 + 1*0.6) / 4 voting weight
    assert (consensus.stop_price, consensus.target_price) == (Decimal(92), Decimal(117))
    silent = [Vote("a", Decimal(2), None), Vote("b", Decimal(1), _decision("buy", "0.9"))]
    assert weighted_consensus(silent, quorum=Decimal("0.5")) is None  # a third of the weight voted
    tie = [Vote("a", Decimal(1), _decision("buy", "0.5")), Vote("b", Decimal(1), _decision("sell", "0.5"))]
    assert weighted_consensus(tie, quorum=Decimal(1)).direction is Direction.HOLD  # type: ignore[union-attr]


def _bars(count: int) -> list[Bar]:
    return [
        Bar(
            symbol="AAPL",
            timeframe=Timeframe.DAY1,
            timestamp=T0 - timedelta(days=count - i),
            open=Decimal(100 + i),
            high=Decimal(102 + i),
            low=Decimal(99 + i),
            close=Decimal(101 + i),
            volume=Decimal(1000),
        )
        for i in range(count)
    ]


def _news(article: int, created: timedelta, updated: timedelta, headline: str) -> NewsItem:
    return NewsItem(article, headline, "", ("AAPL",), "benzinga", T0 - created, T0 - updated)


def test_news_is_known_as_it_read_at_the_moment() -> None:
    first = _news(1, timedelta(hours=5), timedelta(hours=5), "first")
    revised = _news(1, timedelta(hours=5), timedelta(hours=1), "revised")
    later = _news(2, timedelta(hours=-1), timedelta(hours=-1), "after the close")
    edited_later = _news(3, timedelta(hours=4), timedelta(hours=-2), "only known edited")
    seen = known_at([first, revised, later, edited_later], T0 - timedelta(hours=2))
    assert [item.headline for item in seen] == ["first"]
    assert [item.headline for item in known_at([first, revised, later], T0)] == ["revised"]
    with pytest.raises(InvalidNewsError) as broken:
        _news(4, timedelta(hours=1), timedelta(hours=2), "updated before created")
    assert broken.value.reason == "updated_before_created"


def test_the_context_holds_only_the_past_and_its_prompt_hash_is_stable() -> None:
    bars = _bars(60)
    item = _news(1, timedelta(hours=5), timedelta(hours=5), "Apple news")
    holding = Holding(Decimal(10), Decimal(150), Decimal("0.25"), 2)
    context = decision_context(bars, [item], holding, decided_at=T0, context_bars=30, news_items=5)
    assert len(context["bars"]) == 30 and context["bars"][-1]["c"] == "160"
    assert context["indicators"]["sma_20"] == "150.5000" and context["indicators"]["sma_50"] == "135.5000"
    assert context["position"] == {"quantity": "10", "average_cost": "150", "unrealized_pnl_pct": "6.67"}
    assert context["portfolio"] == {"gross_exposure_pct": "25.00", "positions_open": 2}
    assert [n["headline"] for n in context["news"]] == ["Apple news"]
    again = decision_context(bars, [item], holding, decided_at=T0, context_bars=30, news_items=5)
    assert build_prompt(context).prompt_hash == build_prompt(again).prompt_hash
    flat = decision_context(bars, [item], Holding(), decided_at=T0, context_bars=30, news_items=5)
    assert build_prompt(flat).prompt_hash != build_prompt(context).prompt_hash
    future = _news(2, timedelta(hours=-1), timedelta(hours=-1), "tomorrow")
    with pytest.raises(ValueError, match="was not published by"):
        decision_context(bars, [future], holding, decided_at=T0, context_bars=30, news_items=5)


def test_a_consensus_becomes_a_long_only_signal_or_the_fallback() -> None:
    settings = LlmStrategySettings(min_confidence=0.6, fallback="exit")
    buy = weighted_consensus([Vote("a", Decimal(1), _decision("buy", "0.8", 90, 120))], quorum=Decimal(1))
    entry = llm_signal(buy, Holding(), settings).signal
    assert entry is not None and (entry.direction, entry.stop_price, entry.target_price) == (
        SignalDirection.BUY,
        Decimal(90),
        Decimal(120),
    )
    long = Holding(quantity=Decimal(5), average_cost=Decimal(100))
    assert llm_signal(buy, long, settings).signal is None  # already long
    weak = weighted_consensus([Vote("a", Decimal(1), _decision("buy", "0.5"))], quorum=Decimal(1))
    assert llm_signal(weak, Holding(), settings).signal is None
    sell = weighted_consensus([Vote("a", Decimal(1), _decision("sell", "0.3"))], quorum=Decimal(1))
    assert llm_signal(sell, Holding(), settings).signal is None  # nothing to close
    assert llm_signal(sell, long, settings).signal.direction is SignalDirection.SELL  # type: ignore[union-attr]
    assert llm_signal(None, long, settings).outcome == "fallback: exit"
    assert llm_signal(None, Holding(), settings).signal is None
    assert llm_signal(None, long, LlmStrategySettings()).signal is None  # fallback hold


def test_backtests_before_a_cutoff_are_named() -> None:
    cutoffs = {"old": date(2009, 12, 31), "new": date(2024, 6, 1), "unknown": None}
    assert cutoff_breaches(cutoffs, date(2010, 1, 4)) == [
        "new's knowledge cutoff 2024-06-01 is not before the first replayed day 2010-01-04",
        "unknown declares no knowledge cutoff",
    ]
    assert cutoff_breaches({"old": date(2009, 12, 31)}, date(2010, 1, 4)) == []
