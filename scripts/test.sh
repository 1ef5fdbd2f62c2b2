#!/usr/bin/env bash
# The README's test command: install the CPU test bed into .venv (scripts/setup.sh), then run the checks:
#   0. lint: ruff check, ruff format --check, mypy (scripts/lint.sh; LINT=0 skips it);
#   0b. the wheel: built, installed (not editable) into a fresh venv, its commands run (scripts/check_wheel.sh;
#       WHEEL=0 skips it);
#   1. unit and integration tests (those marked slow too), on PYTEST_WORKERS processes (default 2, pytest-xdist);
#      --dist loadgroup runs the tests of one experiment preset (xdist_group "preset_<name>") in one process, which
#      composes each of its preset combinations once for all of them;
#   2. the end-to-end verl training runs (marker e2e, tests/test_cpu_e2e.py), one at a time (VERL_MED_E2E=0 skips).
# Extra arguments go to both pytest runs (e.g. bash scripts/test.sh -k rewards).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --cpu
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_USAGE_STATS_ENABLED=0
python="${VENV:-.venv}/bin/python"
[ "${VENV:-.venv}" = none ] && python=python
set +e
# lint and the wheel check are single-threaded: they run side by side on the two cores, lint's output shown after
lint=0
lint_log=$(mktemp)
[ "${LINT:-1}" != 0 ] && { bash scripts/lint.sh >"$lint_log" 2>&1 & lint_pid=$!; }
wheel=0
[ "${WHEEL:-1}" != 0 ] && { PYTHON="$python" bash scripts/check_wheel.sh; wheel=$?; }
[ -n "${lint_pid:-}" ] && { wait "$lint_pid"; lint=$?; }
cat "$lint_log"
rm -f "$lint_log"
start=$(date +%s)
"$python" -m pytest -q -m "not e2e" -n "${PYTEST_WORKERS:-2}" --dist loadgroup tests "$@"
unit=$?
echo "unit and integration tests: $(( $(date +%s) - start )) s"
e2e=5
if [ "${VERL_MED_E2E:-1}" != 0 ]; then
  start=$(date +%s)
  "$python" -m pytest -q -m e2e tests "$@"
  e2e=$?
  echo "end-to-end training tests: $(( $(date +%s) - start )) s"
fi
set -e
# pytest exits 5 when it collected nothing: fine for one of the two runs (-k may select one kind), not for both.
if [ "$unit" -eq 5 ] && [ "$e2e" -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi
[ "$unit" -eq 5 ] && unit=0
[ "$e2e" -eq 5 ] && e2e=0
[ "$lint" -eq 0 ] && [ "$wheel" -eq 0 ] && [ "$unit" -eq 0 ] && [ "$e2e" -eq 0 ]
