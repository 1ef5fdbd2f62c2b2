#!/usr/bin/env bash
# Medical VQA benchmark SLAKE, English questions (radiology; closed and open, with modality and organ): GRPO with the
# vqa preset, then evaluation on test (report per modality and question type).
# Data: SLAKE_DIR = the Hugging Face release (train/validate/test.json and imgs.zip, read zipped):
#   huggingface-cli download BoKelvin/SLAKE --repo-type dataset --local-dir ~/downloads/SLAKE
#   SLAKE_DIR=~/downloads/SLAKE bash examples/vqa/slake.sh
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 10 epochs of data.train_batch_size 32 (1gpu_lora), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
prepare_vqa slake slake
train_vqa slake slake trainer.total_epochs=10 "$@"
evaluate vqa slake
