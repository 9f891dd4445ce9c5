"""Federated ranking on implicit feedback: MF and NCF with sampled negatives, leave-one-out evaluation."""
