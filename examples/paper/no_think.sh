#!/usr/bin/env bash
# Paper row "no think" (control): V-RFT with the answer alone asked for and rewarded, no <think> block.
# Runs on every dataset of $DATASETS (examples/common.sh; default bloodmnist breastmnist retinamnist), one run
# each, so the rows' reports form one table; DATASET=<flag> runs one.
# Needs: HARDWARE=8gpu (default: full fine-tuning,
#   as in the paper) or multinode; 1gpu_lora (1 GPU >= 40 GB, LoRA) is not paper-comparable; Qwen2.5-VL-3B by default.
# Time = steps x an assumed 60 s/step (our guess, not measured); steps = floor(train rows / batch) x 15
# epochs, batch = data.train_batch_size: 32 (1gpu_lora), 128 (8gpu; multinode 256 halves its steps):
#   bloodmnist       11959 rows:  5595 steps ~93 h (1gpu_lora) | 1395 steps ~23 h (8gpu)
#   breastmnist        546 rows:   255 steps ~4.2 h (1gpu_lora) |   60 steps ~1.0 h (8gpu)
#   retinamnist       1080 rows:   495 steps ~8.2 h (1gpu_lora) |  120 steps ~2.0 h (8gpu)
HARDWARE=${HARDWARE:-8gpu}  # paper rows: full fine-tuning (1gpu_lora is not paper-comparable)
source "$(dirname "$0")/../common.sh"
paper_row no_think "$@"  # examples/common.sh: every dataset x seed, then the table
