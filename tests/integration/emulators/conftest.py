"""Fixtures: each test gets fresh emulators served on loopback, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.alpaca import AlpacaEmulator
from tests.emulators.server import EmulatorServer
from tests.emulators.twelvedata import TwelveDataEmulator


@pytest.fixture
def twelvedata() -> TwelveDataEmulator:
    return TwelveDataEmulator()


@pytest.fixture
def twelvedata_server(twelvedata: TwelveDataEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(twelvedata.app) as server:
        yield server


@pytest.fixture
def alpaca() -> AlpacaEmulator:
    return AlpacaEmulator()


@pytest.fixture
def alpaca_server(alpaca: AlpacaEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(alpaca.app) as server:
        yield server
