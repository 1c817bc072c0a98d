"""The machine-learning strategy: labels, purged walk-forward training, the model registry's rules, drift."""
