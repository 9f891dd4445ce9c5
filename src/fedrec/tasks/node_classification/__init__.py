"""Federated node classification on graphs split among clients."""
