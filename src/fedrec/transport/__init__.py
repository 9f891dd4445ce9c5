"""How messages move: the in-process virtual-time queue, gRPC streams, the wire codec, execution backends."""
