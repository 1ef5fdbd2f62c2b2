#!/usr/bin/env bash
# Lint, format and type checks, as the pre-commit hooks run them (.pre-commit-config.yaml); settings in
# pyproject.toml ([tool.ruff], [tool.mypy]). scripts/test.sh runs this first; the tools come from the `lint`
# extra (pinned), which scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${VENV:-.venv}/bin/"
[ "${VENV:-.venv}" = none ] && bin=
status=0
"${bin}ruff" check . || status=1
"${bin}ruff" format --check . || { echo "ruff format would change the files above: run \`ruff format .\`" >&2; status=1; }
"${bin}mypy" || status=1
[ "$status" -eq 0 ] && echo "lint: ruff check, ruff format --check and mypy are clean"
exit "$status"
