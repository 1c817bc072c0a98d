"""The pure side of the LLM strategy: the point-in-time context a model is shown, the prompt and its
hash, the structured decision a model must answer (and why an answer is refused), and the weighted
consensus of several models. No I/O: the providers, the record of calls and the budget are adapters."""
