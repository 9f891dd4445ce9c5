#!/usr/bin/env bash
# Regenerates src/fedrec/transport/proto/wire_pb2.py from wire.proto (needs grpcio-tools).
set -euo pipefail
cd "$(dirname "$0")/../src"
../.venv/bin/python -m grpc_tools.protoc -I. --python_out=. fedrec/transport/proto/wire.proto
