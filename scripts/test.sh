#!/usr/bin/env bash
# The README's test command: install the CPU test bed into .venv (scripts/setup.sh), then run the tests.
# Extra arguments go to pytest (e.g. bash scripts/test.sh -k rewards).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --cpu
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_USAGE_STATS_ENABLED=0
set +e
"${VENV:-.venv}/bin/python" -m pytest -q tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi
exit "$rc"
