#!/usr/bin/env bash
# Paper row "+ prompt knowledge" (PA_p): V-RFT plus the knowledge card of the dataset in the prompt.
# Needs: HARDWARE=1gpu_lora (default, 1 GPU >= 40 GB), 8gpu or multinode; Qwen2.5-VL-3B, 15 epochs: about 3 h on
# 1 GPU for RetinaMNIST (1,080 images), longer for larger sets (our estimate). DATASET=bloodmnist by default.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-bloodmnist}
prepare_medmnist "$DATASET"
train knowledge "$DATASET" trainer.total_epochs=15 "$@"
evaluate knowledge "$DATASET"
