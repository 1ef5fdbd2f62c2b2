#!/usr/bin/env bash
# Zoom policy (ours, not a paper row; docs/tools.md): during GRPO the model may call the zoom_in tool on
# its image (verl's tool agent loop) and answers from the enlarged crop.
#   bash examples/zoom/run.sh [breastmnist | <vqa benchmark>] [hydra overrides of the GRPO run...]
# 1. data: BreastMNIST (the default; MEDMNIST_SIZE px) or a medical-VQA benchmark's release, converted as
#    examples/vqa/run.sh does; BUSI's lesion boxes as grounding rows in the model's box convention, without the
#    target's val/test images (BreastMNIST is BUSI resized: --exclude, as the localization rows).
# 2. warm start: zoom traces from BUSI's boxes (python -m data_preprocess.sft --zoom_tool <med.template>: a call on
#    the lesion box, the crop, then the answer), a short SFT with verl's SFT trainer (configs/sft_med.yaml renders
#    them with verl-med's chat template of the model), merged from the checkpoint of lowest validation loss.
# 3. GRPO from the warm-started model: med/experiment=zoom (classification) or zoom_vqa (VQA).
# 4. evaluation on the test split through the same tool agent loop (verl's validation-only pass on the last
#    checkpoint: offline generation runs no tool); the report has the tools block (call rate, zoom IoU, turns).
# Data: BUSI_DIR = Dataset_BUSI_with_GT (Al-Dhabyani et al. 2020); a VQA benchmark also needs <BENCHMARK>_DIR (the
#   script prints its download command without it), e.g. SLAKE_DIR=~/downloads/SLAKE bash examples/zoom/run.sh slake
# MODEL picks the model preset (default qwen2_5_vl_3b): the box convention (BUSI rows, traces, tool, reward) and
#   the chat template follow it (MODEL=qwen3_vl_8b: rel1000 boxes, the Qwen3-VL template).
# Needs: 1 GPU >= 40 GB (HARDWARE=1gpu_lora, the default) or HARDWARE=8gpu; the SFT: SFT_GPUS (1), full
#   fine-tuning. ZOOM_SFT_EPOCHS (default 2) passes over the traces: enough to learn the call format (our choice).
# Without a GPU (or with VERL_MED_DRY_RUN=1) it converts the data, checks the SFT on the traces and the GRPO run
# (dry runs, on the base model), then says what training needs.
source "$(dirname "$0")/../common.sh"
TARGET=breastmnist
if [ "$#" -gt 0 ] && [[ "$1" != *=* ]]; then TARGET=$1; shift; fi

if [ "$TARGET" = breastmnist ]; then
  experiment=zoom
  prepare_medmnist breastmnist
  test_split="$DATA_DIR/breastmnist/test.parquet"
  excluded=("$test_split" "$DATA_DIR/breastmnist/val.parquet")
else
  experiment=zoom_vqa
  vqa_facts "$TARGET"  # an unknown name: one error listing the benchmarks
  if [ -n "$vqa_train_on" ]; then
    echo "error: $TARGET is test-only (examples/vqa/run.sh trains it on $vqa_train_on): run" \
         "examples/zoom/run.sh $vqa_train_on, then evaluate on $TARGET" >&2
    exit 2
  fi
  prepare_vqa "$TARGET" "$TARGET"
  test_split="$DATA_DIR/$TARGET/$vqa_evaluate_split.parquet"
  excluded=("$test_split")
  [ -f "$DATA_DIR/$TARGET/val.parquet" ] && excluded+=("$DATA_DIR/$TARGET/val.parquet")
fi
prepare_localization "$TARGET" "${excluded[@]}"
busi="busi_$(preset_value med reward box_format)_minus_$TARGET"

# Warm start on the zoom traces; the GRPO run starts from its merged checkpoint (a dry run: from the base model).
SFT_ZOOM_TOOL=$(preset_value med template) train_sft "$busi" trainer.total_epochs="${ZOOM_SFT_EPOCHS:-2}"
policy=${MODEL_PATH:-$(model_hub_id)}
if [ "$DRY_RUN" != true ]; then
  merge_checkpoint
  policy="$RUN_DIR/hf_model"
fi
MODEL_PATH=$policy train "$experiment" "$TARGET" "$@"
if [ "$DRY_RUN" = true ]; then say_no_gpu; exit 0; fi

# The test split through the tool agent loop: verl validates the last checkpoint (resumed) and stops.
MODEL_PATH=$policy train "$experiment" "$TARGET" "$@" data.val_files="$test_split" trainer.val_only=true \
  trainer.val_before_train=true trainer.resume_mode=auto trainer.validation_data_dir="$RUN_DIR/test_val"
name=$(run_name "$experiment")
verl-med-eval "$name=$RUN_DIR/test_val" --data "$test_split" --reward_kwargs "$name=$RUN_DIR/.hydra/config.yaml" \
  --out "$RUN_DIR/report"
