"""An optional LLM advisor that may veto or annotate a signal, never place one (timeout, fallback)."""

from trader.adapters.llm.advisor import AdvisorVerdict, LlmAdvisor

__all__ = ["AdvisorVerdict", "LlmAdvisor"]
