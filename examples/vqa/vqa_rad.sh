#!/usr/bin/env bash
# Medical VQA benchmark VQA-RAD (radiology; closed yes/no and open questions): GRPO with the vqa preset (modality
# knowledge in the prompt; open answers scored by length-penalised token recall), then evaluation on test.
# Data: VQA_RAD_DIR = the Hugging Face release (parquet shards with embedded images):
#   huggingface-cli download flaviagiammarino/vqa-rad --repo-type dataset --local-dir ~/downloads/vqa-rad
#   VQA_RAD_DIR=~/downloads/vqa-rad bash examples/vqa/vqa_rad.sh
# Train and test only: the validation curve reads the test split (configs/med/vqa/vqa_rad.yaml).
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 15 epochs of data.train_batch_size 32 (1gpu_lora), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
prepare_vqa vqa_rad vqa_rad
train_vqa vqa_rad vqa_rad trainer.total_epochs=15 "$@"
evaluate vqa vqa_rad
