"""The composition root: builds a run's parts from its config by registry look-up, and runs it (simulation,
baselines, cluster)."""
