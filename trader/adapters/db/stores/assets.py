"""What the broker said about each symbol (tradable, shortable, fractionable), learned by the executor.

The risk manager sizes in fractions only where the broker trades the asset in fractions, and
opens a short only where the broker lists the asset as shortable; a symbol not recorded here is
neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from trader.adapters.db.tables import broker_assets
from trader.core.broker import BrokerAsset

_CHUNK = 500


class BrokerAssetStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_many(self, assets: Sequence[BrokerAsset], *, broker: str, at: datetime) -> None:
        """Replace the rows of these symbols whose facts changed, in one transaction (a refresh that
        learns nothing new writes nothing)."""
        known = await self.of([asset.symbol for asset in assets])
        unique = {
            asset.symbol.upper(): asset
            for asset in assets
            if known.get(asset.symbol.upper()) != replace(asset, symbol=asset.symbol.upper())
        }
        if not unique:
            return
        async with self._engine.begin() as connection:
            symbols = sorted(unique)
            for start in range(0, len(symbols), _CHUNK):
                chunk = symbols[start : start + _CHUNK]
                await connection.execute(delete(broker_assets).where(broker_assets.c.symbol.in_(chunk)))
            await connection.execute(
                insert(broker_assets),
                [
                    {
                        "symbol": symbol,
                        "broker": broker[:16],
                        "tradable": asset.tradable,
                        "shortable": asset.shortable,
                        "fractionable": asset.fractionable,
                        "updated_at": at,
                    }
                    for symbol, asset in unique.items()
                ],
            )

    async def of(self, symbols: Sequence[str]) -> dict[str, BrokerAsset]:
        wanted = sorted({symbol.upper() for symbol in symbols})
        found: dict[str, BrokerAsset] = {}
        async with self._engine.connect() as connection:
            for start in range(0, len(wanted), _CHUNK):
                rows = await connection.execute(
                    select(broker_assets).where(broker_assets.c.symbol.in_(wanted[start : start + _CHUNK]))
                )
                for row in rows:
                    found[row.symbol] = BrokerAsset(row.symbol, row.tradable, row.shortable, row.fractionable)
        return found
