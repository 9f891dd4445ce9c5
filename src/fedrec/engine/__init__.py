"""What every task's local training shares: cohort plans, per-client optimizers, client terms, personal layers,
shards."""
