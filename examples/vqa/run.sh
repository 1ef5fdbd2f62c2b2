#!/usr/bin/env bash
# bash examples/vqa/run.sh <benchmark> [hydra overrides...]: one medical-VQA benchmark of data_preprocess/vqa/
# (python -m data_preprocess.vqa --help lists them and their cards): converts its release, GRPO with the vqa preset
# (configs/med/experiment/vqa.yaml, med.dataset=<benchmark>), then evaluation on the split it is reported on.
# What differs per benchmark (download command, converter flags, length and limits, evaluation split, a test-only
# benchmark's training benchmark) is registered with its reader (data_preprocess/vqa/registry.py: ExampleRun);
# python -m data_preprocess.vqa.example_run <benchmark> prints it.
# Data: <BENCHMARK>_DIR = the downloaded release, e.g.
#   huggingface-cli download BoKelvin/SLAKE --repo-type dataset --local-dir ~/downloads/SLAKE
#   SLAKE_DIR=~/downloads/SLAKE bash examples/vqa/run.sh slake
# Without it the script prints the benchmark's download command and the variable to set.
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# TRAIN_BENCHMARK  train and validate on this benchmark instead (default: the registered one of a test-only
#                  benchmark, e.g. MedXpertQA-MM trains on pmc_vqa)
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
if [ "$#" -lt 1 ] || [[ "$1" == *=* ]]; then
  echo "error: usage: bash examples/vqa/run.sh <benchmark> [hydra overrides...]" \
       "(python -m data_preprocess.vqa --help lists the benchmarks)" >&2
  exit 2
fi
BENCHMARK=$1
shift
vqa_facts "$BENCHMARK"
TRAIN_BENCHMARK=${TRAIN_BENCHMARK:-$vqa_train_on}  # a test-only benchmark trains and validates on another one
data=()
if [ -n "$TRAIN_BENCHMARK" ]; then
  prepare_vqa "$TRAIN_BENCHMARK" "$TRAIN_BENCHMARK"
  data=(data.train_files="$DATA_DIR/$TRAIN_BENCHMARK/train.parquet"
        data.val_files="$DATA_DIR/$TRAIN_BENCHMARK/val.parquet")
fi
prepare_vqa "$BENCHMARK" "$BENCHMARK"
VERL_MED_GENERATE_ARGS=${VERL_MED_GENERATE_ARGS:-${vqa_generate_args[*]}}
train_vqa "$BENCHMARK" "$BENCHMARK" "${data[@]}" "$@"
evaluate_on vqa "$DATA_DIR/$BENCHMARK/$vqa_evaluate_split.parquet"
