#!/usr/bin/env bash
# Medical VQA benchmark MedXpertQA-MM (expert-level five-option mcq, clinical vignettes with one or more images): a
# test set (its dev split holds a few examples), so GRPO trains on another benchmark (TRAIN_BENCHMARK, default
# pmc_vqa: mcq too, as MedVLThinker does) with the vqa preset, validates on the training benchmark's val split and
# is evaluated on MedXpertQA-MM's test split at the end. Longer prompts and answers than the others (configs/med/vqa/medxpertqa_mm.yaml).
# Data: MEDXPERTQA_MM_DIR = the Hugging Face release (MM/dev.jsonl, MM/test.jsonl, images.zip, read zipped), plus
# the training benchmark's release (<TRAIN_BENCHMARK>_DIR, see its script):
#   huggingface-cli download TsinghuaC3I/MedXpertQA --repo-type dataset --local-dir ~/downloads/MedXpertQA
#   MEDXPERTQA_MM_DIR=~/downloads/MedXpertQA PMC_VQA_DIR=~/downloads/PMC-VQA bash examples/vqa/medxpertqa_mm.sh
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 1,000 steps of data.train_batch_size 32 (1gpu_lora), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
TRAIN_BENCHMARK=${TRAIN_BENCHMARK:-pmc_vqa}
VERL_MED_GENERATE_ARGS=${VERL_MED_GENERATE_ARGS:---max_tokens 1024}  # data.max_response_length of the preset
prepare_vqa "$TRAIN_BENCHMARK" "$TRAIN_BENCHMARK"
prepare_vqa medxpertqa_mm medxpertqa_mm
train_vqa medxpertqa_mm medxpertqa_mm data.train_files="$DATA_DIR/$TRAIN_BENCHMARK/train.parquet" \
  data.val_files="$DATA_DIR/$TRAIN_BENCHMARK/val.parquet" \
  trainer.total_training_steps=1000 "$@"
evaluate vqa medxpertqa_mm
