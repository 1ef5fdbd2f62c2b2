#!/usr/bin/env bash
# Medical VQA benchmark OmniMedVQA (mcq over many modalities): GRPO with the vqa preset on a seeded split of the
# open-access questions (stratified by modality and question type: 70% train, 10% val, 20% test), then evaluation
# on test with a report per modality and question type. The cross-modality study is omnimedvqa_cross_modality.sh.
# Data: OMNIMEDVQA_DIR = the unpacked release (QA_information/ and Images/):
#   huggingface-cli download foreverbeliever/OmniMedVQA --repo-type dataset --local-dir ~/downloads/omnimedvqa
#   unzip -q ~/downloads/omnimedvqa/OmniMedVQA.zip -d ~/downloads/omnimedvqa
#   OMNIMEDVQA_DIR=~/downloads/omnimedvqa/OmniMedVQA bash examples/vqa/omnimedvqa.sh
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 1,000 steps of data.train_batch_size 32 (1gpu_lora), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5 or med.knowledge.mode=none (no knowledge).
source "$(dirname "$0")/../common.sh"
prepare_vqa omnimedvqa omnimedvqa --split_by random --test_fraction 0.2 --val_fraction 0.1 --seed 42
train_vqa omnimedvqa omnimedvqa trainer.total_training_steps=1000 "$@"
evaluate vqa omnimedvqa
