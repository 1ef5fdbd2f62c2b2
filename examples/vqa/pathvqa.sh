#!/usr/bin/env bash
# Medical VQA benchmark PathVQA (pathology; closed yes/no and open questions): GRPO with the vqa preset, then
# evaluation on test.
# Data: PATHVQA_DIR = the Hugging Face release (parquet shards with embedded images):
#   huggingface-cli download flaviagiammarino/path-vqa --repo-type dataset --local-dir ~/downloads/path-vqa
#   PATHVQA_DIR=~/downloads/path-vqa bash examples/vqa/pathvqa.sh
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 2 epochs of data.train_batch_size 32 (1gpu_lora), our choice; validation reads 1,000 val questions.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
prepare_vqa pathvqa pathvqa
train_vqa pathvqa pathvqa trainer.total_epochs=2 "$@"
evaluate vqa pathvqa
