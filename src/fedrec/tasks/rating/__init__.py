"""Federated rating prediction: biased MF, one client per user, the user's embedding kept on its device."""
