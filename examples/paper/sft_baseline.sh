#!/usr/bin/env bash
# Paper row "SFT": supervised fine-tuning baseline on the same samples (verl's SFT trainer, answers in the
# think/answer tags), then the same test-set evaluation as the RL rows.
# Needs: 1 GPU >= 40 GB (LoRA) or 8 GPUs; about 1 h on RetinaMNIST (our estimate). DATASET=retinamnist by default.
source "$(dirname "$0")/../common.sh"
DATASET=${DATASET:-retinamnist}
prepare_medmnist "$DATASET"
train_sft "$DATASET" "$@"
evaluate sft "$DATASET"
