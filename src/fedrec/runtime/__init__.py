"""Workers and messages: the server, client hosts, round policies, evaluation, devices in virtual time (no torch, no
gRPC)."""
