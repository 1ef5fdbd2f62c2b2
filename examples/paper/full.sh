#!/usr/bin/env bash
# The combination the paper never ran: knowledge prompt + localization stage + MFRS + recitation delta-.
# Needs: BUSI_DIR (Dataset_BUSI_with_GT); 1 GPU >= 40 GB with LoRA; about 2 h (our estimate). DATASET=breastmnist.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-breastmnist}
prepare_medmnist "$DATASET"
prepare_busi_localization
train full "$DATASET" trainer.total_epochs=15 "$@"
evaluate full "$DATASET"
