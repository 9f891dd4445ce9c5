"""fedrec: federated recommendation on an event-driven federated-learning runtime."""

__version__ = "0.1.0"
