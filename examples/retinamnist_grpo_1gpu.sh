#!/usr/bin/env bash
# Main job: VRFT-Aug defaults (knowledge prompt + MFRS) on RetinaMNIST (diabetic-retinopathy grade 0-4, 224 px),
# Qwen2.5-VL-3B-Instruct, GRPO (8 responses per prompt), one GPU with LoRA.
# Needs: 1 GPU with >= 40 GB; about 3 h for 15 epochs of 1,080 images (our estimate, not measured).
# Without a GPU it prepares the data and runs the dry run, then says what training needs.
# Extra arguments are Hydra overrides, e.g. trainer.total_epochs=5.
source "$(dirname "$0")/common.sh"
prepare_medmnist retinamnist
train default retinamnist trainer.total_epochs=15 "$@"
evaluate vrft_aug retinamnist
