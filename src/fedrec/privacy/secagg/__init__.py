"""Secure aggregation (Bonawitz et al., CCS 2017): the server learns only the sum of the clients' vectors.

``crypto`` holds the primitives (X25519 agreement, HKDF, AES-GCM, an AES-CTR PRG, Shamir sharing);
``protocol`` the client's and the server's halves of the four stages; ``encoding`` (torch) turns updates
into vectors of the ring Z_2^64 and the recovered sum back into an update. The protocol modules use no torch,
so the runtime can drive them.
"""
