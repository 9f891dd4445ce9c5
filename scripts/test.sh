#!/usr/bin/env bash
# Installs what is needed, then runs the test suite on the real datasets in ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export FEDREC_TEST_MIRROR="${FEDREC_TEST_MIRROR:-$PWD/../shared/data}"
exec .venv/bin/python -m pytest "$@"
