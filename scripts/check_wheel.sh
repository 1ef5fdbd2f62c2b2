#!/usr/bin/env bash
# The package as users get it: build verl-med's wheel from the tracked files, install it (not editable) into a
# fresh virtualenv and run the commands from it. The fresh venv sees the test venv's dependencies (verl, torch, ...)
# through a .pth line, which adds that folder to sys.path without running its .pth files, so the editable install
# (and the CPU test bed) stay out; every verl-med module must then come from the wheel (checked by __file__).
# Run by scripts/test.sh; about a minute. PYTHON=... picks the interpreter with the dependencies (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
python=${PYTHON:-${VENV:-.venv}/bin/python}
[ "${VENV:-.venv}" = none ] && python=${PYTHON:-python}
case $python in */*) python=$(realpath -s "$python") ;; esac  # the steps below run in other folders
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { echo "check_wheel: $*"; }

step "building the wheel from the tracked files"
mkdir "$tmp/src"
git ls-files -z | (cd "$repo" && xargs -0 cp --parents -t "$tmp/src" 2>/dev/null || true)
(cd "$tmp/src" && "$python" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation -q . -w "$tmp/dist")
wheel=$(ls "$tmp"/dist/verl_med_plugin-*.whl)

step "installing $(basename "$wheel") into a fresh venv"
"$python" -m venv --without-pip "$tmp/venv"
"$python" -m pip --disable-pip-version-check --python "$tmp/venv/bin/python" install -q --no-deps --no-index "$wheel"
vpy=$tmp/venv/bin/python
site=$("$vpy" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
"$python" -c "import sysconfig; print(sysconfig.get_path('purelib'))" >"$site/verl_med_check_deps.pth"

cd "$tmp"  # python -m puts the working directory first on sys.path: not the checkout
export HF_HUB_OFFLINE=1 VERL_MED_CHECK_SITE=$site
step "modules come from the wheel"
"$vpy" - <<'EOF'
import importlib, os
site = os.environ["VERL_MED_CHECK_SITE"]
for name in ("verl_med_plugin", "verl_med_plugin.configs", "reward_fns", "data_preprocess", "data_preprocess.vqa"):
    path = importlib.import_module(name).__file__ or next(iter(importlib.import_module(name).__path__))
    assert path.startswith(site), f"{name} imported from {path}, not from the wheel in {site}"
print("  all from", site)
EOF

step "python -m data_preprocess.vqa --help"
"$vpy" -m data_preprocess.vqa --help >/dev/null

step "a SLAKE conversion from the test fixture, with its modality card"
"$python" -c "import sys; sys.path.insert(0, '$repo/tests'); from pathlib import Path; from fixtures_vqa import write_slake
print(write_slake(Path('$tmp/slake_release')))" >"$tmp/slake_input"
"$vpy" -m data_preprocess.vqa --benchmark slake --input "$(cat "$tmp/slake_input")" --output_dir "$tmp/slake" >/dev/null
"$vpy" - <<'EOF'
import pyarrow.parquet as pq
from data_preprocess.modality_knowledge import modality_knowledge
rows = pq.read_table("slake/train.parquet").to_pylist()
assert rows, "no rows converted"
for row in rows:
    info = row["extra_info"]
    assert info["knowledge"] == modality_knowledge(info["modality"])[1] and info["knowledge"], info["modality"]
print(f"  {len(rows)} train rows, each with its modality card")
EOF

step "verl-med-eval --help"
"$tmp/venv/bin/verl-med-eval" --help >/dev/null

step "python -m verl_med_plugin.main --cfg job"
"$vpy" -m verl_med_plugin.main --cfg job >"$tmp/job.yaml"
grep -q "trainer_mode: med_sync" "$tmp/job.yaml"
grep -q "path: pkg://reward_fns" "$tmp/job.yaml"
step "ok"
