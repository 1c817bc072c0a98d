"""A news article as the system keeps it: one version of an article, point in time.

An article can be edited after it is published (`updated_at` moves). Every version is kept, so a
decision at moment t can be shown exactly what was published by t: the newest version of each
article created by t whose own `updated_at` is not later than t. An article whose only known
version was edited after t is not shown at all (we never saw its first text).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from trader.core.market import is_aware_utc

HEADLINE_CHARACTERS = 500
SUMMARY_CHARACTERS = 2000


class InvalidNewsError(ValueError):
    """An article that cannot be stored: `reason` is a short code, the message says which field."""

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class NewsItem:
    article_id: int
    headline: str
    summary: str
    symbols: tuple[str, ...]
    source: str
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        for name in ("created_at", "updated_at"):
            if not is_aware_utc(getattr(self, name)):
                raise InvalidNewsError(f"article {self.article_id}: {name} is not aware UTC", "naive_time")
        if self.article_id <= 0:
            raise InvalidNewsError(f"article id must be positive, got {self.article_id}", "bad_id")
        if not self.headline.strip():
            raise InvalidNewsError(f"article {self.article_id} has no headline", "no_headline")
        if self.updated_at < self.created_at:
            raise InvalidNewsError(
                f"article {self.article_id} updated ({self.updated_at.isoformat()}) before it was created "
                f"({self.created_at.isoformat()})",
                "updated_before_created",
            )
        object.__setattr__(self, "headline", self.headline.strip()[:HEADLINE_CHARACTERS])
        object.__setattr__(self, "summary", self.summary.strip()[:SUMMARY_CHARACTERS])
        object.__setattr__(self, "symbols", tuple(sorted({s.strip().upper() for s in self.symbols if s})))

    @property
    def version_key(self) -> tuple[int, datetime]:
        return (self.article_id, self.updated_at)


def known_at(items: Iterable[NewsItem], moment: datetime) -> list[NewsItem]:
    """What had been published by `moment`: per article its newest version updated by then,
    newest article first (ties by id, so the order never depends on storage)."""
    latest: dict[int, NewsItem] = {}
    for item in items:
        if item.created_at > moment or item.updated_at > moment:
            continue
        known = latest.get(item.article_id)
        if known is None or item.updated_at > known.updated_at:
            latest[item.article_id] = item
    return sorted(latest.values(), key=lambda item: (item.created_at, item.article_id), reverse=True)
