#!/usr/bin/env bash
# Paper row "+ localization stage" (PA_pi): GRPO on lesion boxes (BUSI, IoU reward) for 100 steps, then
# classification on BreastMNIST in the same run, scheduled by the curriculum sampler.
# Needs: BUSI_DIR (Dataset_BUSI_with_GT); 1 GPU >= 40 GB with LoRA; about 2 h (our estimate). DATASET=breastmnist.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-breastmnist}
prepare_medmnist "$DATASET"
prepare_busi_localization
train localization "$DATASET" trainer.total_epochs=15 "$@"
evaluate localization "$DATASET"
