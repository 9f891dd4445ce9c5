#!/usr/bin/env bash
# Installs what is needed, then runs the default job: `fedrec run` with any arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FEDREC_DATA_MIRROR:-}" ] && [ -d ../shared/data ]; then export FEDREC_DATA_MIRROR="$PWD/../shared/data"; fi
exec .venv/bin/fedrec run "$@"
