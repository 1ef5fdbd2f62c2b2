#!/usr/bin/env bash
# Paper row "recitation delta-": knowledge prompt - 0.5 * BLEU(think, knowledge) (penalises reciting it).
# Needs: HARDWARE=1gpu_lora (default, 1 GPU >= 40 GB), 8gpu or multinode; Qwen2.5-VL-3B, 15 epochs: about 3 h on
# 1 GPU for RetinaMNIST (1,080 images), longer for larger sets (our estimate). DATASET=bloodmnist by default.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-bloodmnist}
prepare_medmnist "$DATASET"
train recite_neg "$DATASET" trainer.total_epochs=15 "$@"
evaluate recite_neg "$DATASET"
