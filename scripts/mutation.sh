#!/usr/bin/env bash
# Mutation testing, on demand (not in CI): mutmut (pinned in the test extra) mutates one target, runs the tests
# that reach each mutant and writes the score per module and every survivor to benchmarks/results/mutation.md
# (benchmarks/mutation_report.py; equivalent survivors are listed there with their reason).
#   bash scripts/mutation.sh rewards    reward_fns/, against the reward tests
#   bash scripts/mutation.sh sampler    verl_med_plugin/sampler.py, against the sampler tests
#   bash scripts/mutation.sh metrics    verl_med_plugin/evaluation/{metrics,statistics}.py, against their tests
# Slow (hours on 2 shared cores): run it niced in the background. It works on a scratch copy of the worktree
# (tracked and untracked files, MUTATION_WORK, default $TMPDIR/verl-med-mutation-<target>), so the worktree gets no
# mutants/ folder. MUTATION_RESUME=1 keeps an earlier copy's results (the tests are copied afresh, new tests get
# their coverage collected); mutant names after the target re-run only those (the survivors, after new tests):
#   MUTATION_RESUME=1 bash scripts/mutation.sh rewards reward_fns.format.x_split_blocks__mutmut_7 ...
# forkserver isolation: fork mode forks every mutant from the process that ran the clean suite, which leaves
# warn-once state behind (reward_fns' _WARNED sets, logging caches) and gives false kills.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mutmut="${VENV:-$root/.venv}/bin/mutmut"
python="${VENV:-$root/.venv}/bin/python"
target=${1:-rewards}
shift || true
case "$target" in
  rewards) only=("reward_fns/*"); tests=(tests/test_rewards_*.py tests/test_hostile_rewards.py) ;;
  sampler) only=("verl_med_plugin/sampler.py"); tests=(tests/test_sampler_*.py tests/test_hostile_sampler.py) ;;
  metrics)
    only=("verl_med_plugin/evaluation/metrics.py" "verl_med_plugin/evaluation/statistics.py")
    tests=(tests/test_eval_metrics*.py tests/test_eval_statistics*.py tests/test_eval_outcomes_spec.py
      tests/test_eval_clinical.py)
    ;;
  *) echo "verl-med: error: unknown mutation target '$target' (expected rewards, sampler or metrics)" >&2; exit 2 ;;
esac
# MUTATION_ONLY="reward_fns/boxes.py ..." narrows the mutated files (iterating on the survivors of one module).
if [ -n "${MUTATION_ONLY:-}" ]; then read -r -a only <<<"$MUTATION_ONLY"; fi
# MUTATION_TESTS="tests/a.py ..." narrows the tests to the smallest set that reaches those files: each mutant runs
# every selected test that reaches it, so leaving out slow tests (Hydra-composing, property-based) makes each mutant
# cheaper; the report names the narrowed set in the row of each module it measured.
default_tests=("${tests[@]}")
if [ -n "${MUTATION_TESTS:-}" ]; then read -r -a tests <<<"$MUTATION_TESTS"; fi
# MUTATION_FILL=1 (with mutant names): the named mutants are ones an earlier run of the same modules left
# unchecked; the report adds their verdicts to that run's rows instead of replacing them.
[ -x "$mutmut" ] || { echo "verl-med: error: $mutmut missing: pip install -e '.[test]'" >&2; exit 2; }
source=${only[0]%%/*}
work=${MUTATION_WORK:-${TMPDIR:-/tmp}/verl-med-mutation-$target}

if [ "${MUTATION_RESUME:-0}" != 1 ]; then rm -rf "$work"; fi
mkdir -p "$work"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work"
{
  echo "[mutmut]"
  echo "source_paths = $source"
  echo "process_isolation = forkserver"
  # mutmut's wall limit per mutant is (the tests' clean time + timeout_constant) x 15: with its default 1 s a fast
  # test forked under a loaded machine (load 7 on 2 cores) hit it, a "timeout" that counts as a kill; 10 s does not
  echo "timeout_constant = ${MUTATION_TIMEOUT_CONSTANT:-10}"
  printf 'also_copy =\n    docs\n'  # doctests of docs/*.md
  printf 'only_mutate =\n'; printf '    %s\n' "${only[@]}"
  printf 'pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -p\n    no:xdist\n    -q\n'
  printf 'pytest_add_cli_args_test_selection =\n'; printf '    %s\n' "${tests[@]}"
} >"$work/setup.cfg"

export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false VERL_MED_REWARD_STRICT=1
# tests/conftest.py freezes the fork server's heap after its warm-up collection (MUTATION_FREEZE=0: off, to compare)
export VERL_MED_MUTATION_RUN=${MUTATION_FREEZE:-1}
# Timed bounds of the tests (tests/test_rewards_vqa.py) scaled: trampolines and load, not the code, would miss them
export VERL_MED_TEST_TIME_SCALE=${MUTATION_TIME_SCALE:-20}
start=$(date +%s)
(cd "$work" && nice -n "${MUTATION_NICE:-10}" "$mutmut" run --max-children "${MUTATION_CHILDREN:-2}" "$@") || true
wall=$(( $(date +%s) - start ))
echo "$wall $# $(date -u +%FT%TZ)" >>"$work/wall.txt"  # seconds, mutants named (0 = all), when
(cd "$work" && "$mutmut" results --all true) >"$work/results.txt"
"$python" benchmarks/mutation_report.py --work "$work" --target "$target" --wall "$work/wall.txt" \
  --tests "${default_tests[*]}" --run-tests "${tests[*]}" ${MUTATION_FILL:+--fill-unchecked} \
  --output benchmarks/results/mutation.md
echo "mutation ($target): $wall s, benchmarks/results/mutation.md"
