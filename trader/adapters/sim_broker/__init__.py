"""The simulated broker: fills with the backtester's fill model against prices the caller feeds."""

from trader.adapters.sim_broker.broker import Quote, RestoredOrder, SimulatedBroker

__all__ = ["Quote", "RestoredOrder", "SimulatedBroker"]
