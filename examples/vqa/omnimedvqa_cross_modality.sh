#!/usr/bin/env bash
# OmniMedVQA cross-modality study (as Med-R1, Lai et al. 2025): GRPO on the questions of some imaging modalities,
# evaluation on the others, so the report (per modality) measures generalisation to modalities never trained on.
# TRAIN_MODALITIES  comma-separated, spelt as the release's modality_type (default "CT(Computed Tomography)");
#                   others: "MR (Mag-netic Resonance Imaging)", "X-Ray", "Fundus Photography", "Dermoscopy",
#                   "Microscopy Images", "OCT (Optical Coherence Tomography", "Ultrasound" (a wrong spelling stops
#                   the converter with the list the release has)
# TEST_MODALITIES   comma-separated (default: every modality not trained on)
# 10% of the training modalities' questions are kept for the validation curve (seeded, stratified).
# Data: OMNIMEDVQA_DIR as for run.sh omnimedvqa; the split goes to $DATA_DIR/omnimedvqa_xmod_<train modalities>/.
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; Qwen2.5-VL-3B by default.
# Length: 500 steps of data.train_batch_size 32 (1gpu_lora), our choice.
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data and runs the dry run, then says what training needs.
# KNOWLEDGE        med.knowledge.mode (default none): no modality card, which would name the modality the model
#                  never trained on in every test prompt (and the answer of every modality question); user shows it.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5.
source "$(dirname "$0")/../common.sh"
TRAIN_MODALITIES=${TRAIN_MODALITIES:-"CT(Computed Tomography)"}
TEST_MODALITIES=${TEST_MODALITIES:-}
folder="omnimedvqa_xmod_$(echo "$TRAIN_MODALITIES" | tr '[:upper:]' '[:lower:]' | sed -E 's/[^a-z0-9]+/_/g; s/^_+|_+$//g')"
prepare_vqa omnimedvqa "$folder" --split_by modality --train_groups "$TRAIN_MODALITIES" \
  ${TEST_MODALITIES:+--test_groups "$TEST_MODALITIES"} --val_fraction 0.1 --seed 42
train_vqa omnimedvqa "$folder" trainer.total_training_steps=500 "med.knowledge.mode=${KNOWLEDGE:-none}" "$@"
evaluate vqa "$folder"
