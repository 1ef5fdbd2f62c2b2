#!/usr/bin/env bash
# Paper row "SFT": supervised fine-tuning baseline on the same samples (verl's SFT trainer, answers in the
# think/answer tags), then the same test-set evaluation as the RL rows.
# Runs on every dataset of $DATASETS (examples/common.sh; default bloodmnist breastmnist retinamnist), one run
# each, so the rows' reports form one table; DATASET=<flag> runs one.
# Needs: full fine-tuning (configs/sft_med.yaml sets no LoRA, as the RL rows on 8gpu): SFT_GPUS=8, or one GPU
#   >= 80 GB (our estimate for the 3B model; SFT_GPUS defaults to 1).
# Time = steps x an assumed 10 s/step (our guess, not measured); steps = floor(train rows / 32) x 3 epochs
# (configs/sft_med.yaml: data.train_batch_size 32, trainer.total_epochs 3):
#   bloodmnist       11959 rows:  1119 steps ~3.1 h (SFT_GPUS=1)
#   breastmnist        546 rows:    51 steps ~0.1 h (SFT_GPUS=1)
#   retinamnist       1080 rows:    99 steps ~0.3 h (SFT_GPUS=1)
source "$(dirname "$0")/../common.sh"
paper_row sft "$@"  # examples/common.sh: every dataset x seed, then the table
