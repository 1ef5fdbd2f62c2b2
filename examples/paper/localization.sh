#!/usr/bin/env bash
# Paper row "+ localization stage" (PA_pi): GRPO on lesion boxes (BUSI, IoU reward) for 5 BUSI epochs, then
# classification on the dataset in the same run, scheduled by the curriculum sampler (uniform within a stage).
# Runs on every dataset of $DATASETS (examples/common.sh; default bloodmnist breastmnist retinamnist), one run
# each, so the rows' reports form one table; DATASET=<flag> runs one.
# BUSI is converted in the model's box convention and without the dataset's val/test images (--exclude;
# BreastMNIST is BUSI resized). Classification then gets exactly the V-RFT baseline's steps and images.
# Needs: BUSI_DIR (Dataset_BUSI_with_GT); HARDWARE=8gpu (default: full fine-tuning,
#   as in the paper) or multinode; 1gpu_lora (1 GPU >= 40 GB, LoRA) is not paper-comparable.
# Time = steps x an assumed 60 s/step (our guess, not measured); steps = the localization stage, ceil(5 x BUSI
# train rows / batch) (5 passes over BUSI), + the V-RFT baseline's floor(train rows / batch) x 15 epochs of
# classification (equal budget: verl_med_plugin/budget.py sets trainer.total_training_steps); batch =
# data.train_batch_size: 32 (1gpu_lora), 128 (8gpu; multinode 256 halves its steps):
#   bloodmnist  546+11959 rows: 5681 steps ~95 h (1gpu_lora) |  1417 steps ~24 h (8gpu)
#   breastmnist   382+546 rows: 315 steps ~5.2 h (1gpu_lora) |    75 steps ~1.2 h (8gpu)
#   retinamnist  546+1080 rows: 581 steps ~9.7 h (1gpu_lora) |   142 steps ~2.4 h (8gpu)
#   (BUSI train: 546 rows; ~382 for breastmnist after --exclude of its val/test images, approximate)
HARDWARE=${HARDWARE:-8gpu}  # paper rows: full fine-tuning (1gpu_lora is not paper-comparable)
source "$(dirname "$0")/../common.sh"
EXPERIMENT=${EXPERIMENT:-localization}  # localization_curriculum: + error re-weighting (localization_curriculum.sh)
paper_row --localization "$EXPERIMENT" "$@"  # examples/common.sh: every dataset x seed, then the table
