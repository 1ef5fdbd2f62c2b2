#!/usr/bin/env bash
# Paper row "+ MFRS": multi-grade fuzzy reward on an ordinal task (RetinaMNIST grades 0-4).
# Needs: HARDWARE=1gpu_lora (default, 1 GPU >= 40 GB), 8gpu or multinode; Qwen2.5-VL-3B, 15 epochs: about 3 h on
# 1 GPU for RetinaMNIST (1,080 images), longer for larger sets (our estimate). DATASET=retinamnist by default.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-retinamnist}
prepare_medmnist "$DATASET"
train mfrs "$DATASET" trainer.total_epochs=15 "$@"
evaluate mfrs "$DATASET"
