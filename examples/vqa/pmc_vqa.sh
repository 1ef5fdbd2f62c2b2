#!/usr/bin/env bash
# Medical VQA benchmark PMC-VQA (four-option mcq on PubMed Central figures): GRPO with the vqa preset on train, then
# evaluation on test_clean (the manually checked test questions the benchmark is reported on).
# Data: PMC_VQA_DIR = the Hugging Face release (train.csv, test_clean.csv and images.zip, read zipped):
#   huggingface-cli download xmcmic/PMC-VQA train.csv test_clean.csv images.zip --repo-type dataset \
#     --local-dir ~/downloads/PMC-VQA
#   PMC_VQA_DIR=~/downloads/PMC-VQA bash examples/vqa/pmc_vqa.sh
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 1,000 steps of data.train_batch_size 32 (1gpu_lora; a fraction of one epoch), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
prepare_vqa pmc_vqa pmc_vqa
train_vqa pmc_vqa pmc_vqa trainer.total_training_steps=1000 "$@"
evaluate_on vqa "$DATA_DIR/pmc_vqa/test_clean.parquet"
