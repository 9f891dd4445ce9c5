#!/usr/bin/env bash
# Installs what is needed, then checks style and types and runs the test suite on the real datasets in
# ../shared/data (set FEDREC_TEST_MIRROR to use another copy). Arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FEDREC_TEST_MIRROR="${FEDREC_TEST_MIRROR:-$PWD/../shared/data}"
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy src
exec .venv/bin/python -m pytest "$@"
