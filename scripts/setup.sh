#!/usr/bin/env bash
# Install verl-med into a virtual environment, in the order that resolves quickly.
#   bash scripts/setup.sh          # CPU host: test bed (torch CPU-capable pair + verl-core + test tools)
#   bash scripts/setup.sh --gpu    # GPU host: verl's vllm + fsdp extras (auto-selected when nvidia-smi sees a GPU)
# VENV=path picks the environment (default .venv); VENV=none installs into the current python.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=cpu
if [ "${1:-}" = "--gpu" ] || { [ "${1:-}" != "--cpu" ] && nvidia-smi -L >/dev/null 2>&1; }; then mode=gpu; fi
echo "verl-med setup: $mode host, environment ${VENV:-.venv}"
venv=${VENV:-.venv}
if [ "$venv" != none ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
fi
# The machine-wide pip config lists local indexes that warn for every package they do not hold: hide that noise.
pip() { python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
if [ "$mode" = gpu ]; then
  pip install -e ".[gpu,test]"
else
  # torch first, from the pinned pair, so nothing later (medmnist pulls torchvision) replaces it.
  pip install -c constraints-cpu.txt torch torchvision
  pip install -c constraints-cpu.txt -e ".[test]"
fi
python -c "import verl_med_plugin, reward_fns, data_preprocess; print('verl-med installed:', verl_med_plugin.__version__)"
