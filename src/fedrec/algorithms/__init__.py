"""Aggregation rules, server optimizers and client terms (FedAvg, FedOpt, FedProx, SCAFFOLD, DP-FedAvg), and the
checks of incoming updates."""
