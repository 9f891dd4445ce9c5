"""Round policies: who is invited to train, and when their updates are aggregated (``base.RoundPolicy``)."""
