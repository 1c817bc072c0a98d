"""Pre-trade risk: limits, pure rules with coded reasons, the decision engine, trading state, sizing."""
