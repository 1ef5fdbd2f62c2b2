# Sourced by the example scripts: paths, GPU detection, data preparation, training, evaluation.
# Environment (all optional):
#   DATA_DIR        prepared parquet, one folder per task        (default ~/data/verl_med)
#   RUNS_DIR        checkpoints, validation dumps, reports         (default ./runs)
#   DATASETS        MedMNIST flags every paper row runs on, one run each, so the rows' outputs form one table
#                   (default "bloodmnist breastmnist retinamnist": multi-class, binary, ordinal; MFRS needs the
#                   ordinal one). DATASET=<flag> runs a single dataset.
#   MODEL           configs/med/model/<MODEL>.yaml                 (default qwen2_5_vl_3b)
#   MODEL_PATH      local model folder instead of the hub id of MODEL
#   HARDWARE        configs/med/hardware/<HARDWARE>.yaml: 1gpu_lora | 8gpu | multinode
#   MEDMNIST_SIZE   28 | 64 | 128 | 224                            (default 224)
#   MEDMNIST_NPZ_DIR  read <flag>_<size>.npz (or <flag>.npz for 28 px) from here instead of downloading
#   BUSI_DIR        the unpacked BUSI dataset (Dataset_BUSI_with_GT), for the localization rows
#   SFT_GPUS        GPUs for the SFT baseline                      (default 1)
#   SEEDS           seeds per paper row: runs <row>@1 .. <row>@$SEEDS, med.seed=1..$SEEDS (default 3); the
#                   paper table (runs/paper_table) gives each cell as mean ± sd over them. A dry run checks seed 1
#                   only (the others differ by med.seed alone).
#   VERL_MED_DRY_RUN=1  stop after the dry run even on a GPU host (CI does this)
#   VERL_MED_EXTRA_OVERRIDES  Hydra overrides appended to every training command (the CPU tests pass theirs here)
#   VERL_MED_GENERATE_ARGS    extra arguments for verl-med-generate
#   <BENCHMARK>_DIR  a medical-VQA benchmark's downloaded release (examples/vqa/run.sh <benchmark>; without it the
#                   script prints its download command): VQA_RAD_DIR, SLAKE_DIR, PATHVQA_DIR, PMC_VQA_DIR, ...
set -euo pipefail

DATA_DIR=${DATA_DIR:-$HOME/data/verl_med}
RUNS_DIR=${RUNS_DIR:-$PWD/runs}
DATASETS=${DATASETS:-${DATASET:-bloodmnist breastmnist retinamnist}}
MODEL=${MODEL:-qwen2_5_vl_3b}
HARDWARE=${HARDWARE:-1gpu_lora}
MEDMNIST_SIZE=${MEDMNIST_SIZE:-224}
SEEDS=${SEEDS:-3}
if ! [[ "$SEEDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "error: SEEDS=$SEEDS: expected the number of seeds per row (a positive integer)" >&2
  exit 2
fi

NO_GPU=0
nvidia-smi -L >/dev/null 2>&1 || NO_GPU=1
# The CPU test bed (tests/cpu_testbed, VERL_PLATFORM=cpu) stands in for a GPU: CI runs the whole chain on it.
[ "${VERL_PLATFORM:-}" = cpu ] && NO_GPU=0
DRY_RUN=false
if [ "${VERL_MED_DRY_RUN:-0}" = 1 ] || [ "$NO_GPU" = 1 ]; then DRY_RUN=true; fi

prepare_medmnist() {  # prepare_medmnist <flag>: RetinaMNIST etc. to $DATA_DIR/<flag>/{train,val,test}.parquet
  local flag=$1 out="$DATA_DIR/$1" npz_args=()
  if [ -f "$out/train.parquet" ]; then echo "data: $out (already prepared)"; return; fi
  if [ -n "${MEDMNIST_NPZ_DIR:-}" ]; then
    local npz="$MEDMNIST_NPZ_DIR/${flag}_${MEDMNIST_SIZE}.npz"
    [ "$MEDMNIST_SIZE" = 28 ] && npz="$MEDMNIST_NPZ_DIR/${flag}.npz"
    npz_args=(--npz "$npz")
  fi
  python -m data_preprocess.medmnist --dataset "$flag" --size "$MEDMNIST_SIZE" --output_dir "$out" "${npz_args[@]}" || {
    echo "hint: without network, put ${flag}_${MEDMNIST_SIZE}.npz (${flag}.npz for 28 px) in a folder and set" \
         "MEDMNIST_NPZ_DIR to it" >&2
    exit 1
  }
}

preset_value() {  # preset_value <key> [<key>...]: a value of configs/med/model/$MODEL.yaml, e.g. med reward box_format
  python -c "import sys, yaml, importlib.resources as r
value = yaml.safe_load((r.files('verl_med_plugin.configs') / 'med' / 'model' / (sys.argv[1] + '.yaml')).read_text())
for key in sys.argv[2:]: value = value[key]
print(value)" "$MODEL" "$@"
}

# The localization data in the box convention of $MODEL (its preset's med.reward.box_format), without the images
# of the classification dataset's val/test splits: BreastMNIST is BUSI resized, so all of BUSI would put
# BreastMNIST's test images into training.
prepare_localization() {  # prepare_localization <dataset> [<parquet>...]: writes $DATA_DIR/busi_<box_format>_minus_
                          # <dataset>, without the images of the given splits (default: the dataset's test and val)
  local dataset=$1 fmt out excluded=("${@:2}")
  [ "${#excluded[@]}" -gt 0 ] || excluded=("$DATA_DIR/$dataset/test.parquet" "$DATA_DIR/$dataset/val.parquet")
  fmt=$(preset_value med reward box_format)
  out="$DATA_DIR/busi_${fmt}_minus_${dataset}"
  if [ -f "$out/train.parquet" ]; then echo "data: $out (already prepared)"; return; fi
  if [ ! -d "${BUSI_DIR:-}" ]; then
    echo "error: the localization rows need BUSI (Al-Dhabyani et al. 2020, the source of BreastMNIST): download" \
         "Dataset_BUSI_with_GT and set BUSI_DIR to it." >&2
    exit 2
  fi
  # BreastMNIST is made of BUSI: every one of its val/test images must be matched to its BUSI source (else the run
  # stops). Other datasets are not: the same match, allowed to find nothing, records that nothing leaked.
  local partial=()
  [ "$dataset" != breastmnist ] && partial=(--exclude_partial)
  python -m data_preprocess.grounding --masks "$BUSI_DIR" --name busi --box_format "$fmt" \
    --question "Locate the lesion in this breast ultrasound image." --output_dir "$out" \
    --exclude "${excluded[@]}" "${partial[@]}"
}

seeds() {  # the seeds each paper row runs (SEEDS above); a dry run checks the first
  if [ "$DRY_RUN" = true ]; then echo 1; else seq 1 "$SEEDS"; fi
}

run_name() {  # run_name <row>: "<row>@$SEED" inside a seed loop (the table groups a row's seeds), else "<row>"
  echo "$1${SEED:+@$SEED}"
}

train() {  # train <experiment|default> <dataset> [hydra overrides...]; with SEED set: run <experiment>@<SEED>
  local experiment=$1 dataset=$2 seed_args=()
  shift 2
  RUN_DIR="$RUNS_DIR/${dataset}_$(run_name "${experiment}_${MODEL}")"
  [ -n "${SEED:-}" ] && seed_args=(med.seed="$SEED" trainer.experiment_name="${dataset}_$(run_name "$experiment")")
  local preset=()
  [ "$experiment" != default ] && preset=("med/experiment=$experiment")
  python -m verl_med_plugin.main "${preset[@]}" "med/model=$MODEL" "med/hardware=$HARDWARE" \
    med.dataset="$dataset" med.data_dir="$DATA_DIR" med.dry_run="$DRY_RUN" "${seed_args[@]}" \
    trainer.default_local_dir="$RUN_DIR/checkpoints" trainer.validation_data_dir="$RUN_DIR/val" \
    hydra.run.dir="$RUN_DIR" ${MODEL_PATH:+actor_rollout_ref.model.path=$MODEL_PATH} "$@" \
    ${VERL_MED_EXTRA_OVERRIDES:-}  # word splitting intended: a list of overrides
}

model_hub_id() {  # the model path of configs/med/model/$MODEL.yaml
  preset_value actor_rollout_ref model path
}

train_sft() {  # train_sft <dataset> [hydra overrides of configs/sft_med.yaml...]; SFT_ZOOM_TOOL=<template>: on the
             # zoom warm-start traces (data_preprocess.sft --zoom_tool, sft_zoom_<split>.parquet) instead
  local dataset=$1 prefix=sft convert=() files=()
  shift
  if [ -n "${SFT_ZOOM_TOOL:-}" ]; then
    prefix=sft_zoom convert=(--zoom_tool "$SFT_ZOOM_TOOL")
    files=(data.train_files="$DATA_DIR/$dataset/sft_zoom_train.parquet"
           data.val_files="$DATA_DIR/$dataset/sft_zoom_val.parquet")
  fi
  RUN_DIR="$RUNS_DIR/${dataset}_$(run_name "${prefix}_${MODEL}")"
  if [ ! -f "$DATA_DIR/$dataset/${prefix}_train.parquet" ]; then
    python -m data_preprocess.sft --input_dir "$DATA_DIR/$dataset" "${convert[@]}"
  fi
  local args=(med.dataset="$dataset" med.data_dir="$DATA_DIR" model.path="${MODEL_PATH:-$(model_hub_id)}" "${files[@]}"
              ${SEED:+trainer.seed=$SEED trainer.experiment_name=${dataset}_sft@$SEED}
              trainer.default_local_dir="$RUN_DIR/checkpoints" hydra.run.dir="$RUN_DIR" "$@")
  if [ "$DRY_RUN" = true ]; then
    python -m verl_med_plugin.sft_preflight "${args[@]}"
  else
    VERL_FILE_LOGGER_PATH="$RUN_DIR/sft_metrics.jsonl" \
    torchrun --standalone --nproc_per_node="${SFT_GPUS:-1}" -m verl.trainer.sft_trainer \
      --config-path=pkg://verl_med_plugin.configs --config-name=sft_med "${args[@]}"
  fi
}

latest_checkpoint() {  # latest_checkpoint <checkpoints dir>: verl's own record of its last save, else the highest step
  local dir=$1 step=""
  [ -f "$dir/latest_checkpointed_iteration.txt" ] && step=$(tr -d '[:space:]' < "$dir/latest_checkpointed_iteration.txt")
  if [ -z "$step" ]; then  # numeric sort of the step number alone (run folder names may contain underscores)
    step=$(find "$dir" -maxdepth 1 -type d -name 'global_step_*' -printf '%f\n' | sed 's/^global_step_//' \
           | grep -E '^[0-9]+$' | sort -n | tail -1) || true
  fi
  if [ -z "$step" ] || [ ! -d "$dir/global_step_$step" ]; then
    echo "error: no checkpoint in $dir (trainer.save_freq > 0 saves one; see configs/med_grpo.yaml)" >&2
    return 1
  fi
  echo "$dir/global_step_$step"
}

say_no_gpu() {  # after a dry run on a host without a GPU: what training needs
  if [ "$NO_GPU" = 1 ]; then
    echo "No GPU visible: ran everything up to training (the dry run above). Training and evaluation need a" \
         "CUDA host with verl's GPU extras: bash scripts/setup.sh --gpu"
  fi
}

merge_checkpoint() {  # merge_checkpoint: $RUN_DIR's checkpoint as a Hugging Face model in $RUN_DIR/hf_model (the SFT
                      # row's of lowest validation loss, an RL run's last)
  local last
  if [ -f "$RUN_DIR/sft_metrics.jsonl" ]; then  # the SFT row: the checkpoint of lowest validation loss
    last=$(python -m verl_med_plugin.checkpoint_choice --checkpoints "$RUN_DIR/checkpoints" \
      --metrics "$RUN_DIR/sft_metrics.jsonl")
  else
    last=$(latest_checkpoint "$RUN_DIR/checkpoints")
  fi
  [ -d "$last/actor" ] && last="$last/actor"  # RL checkpoints keep the policy in actor/, SFT ones at the top
  python -m verl.model_merger merge --backend fsdp --local_dir "$last" --target_dir "$RUN_DIR/hf_model"
}

evaluate_on() {  # evaluate_on <name> <parquet>: merge the last checkpoint, answer that split, write the report
  local name=$1 data=$2
  if [ "$DRY_RUN" = true ]; then say_no_gpu; return; fi
  merge_checkpoint
  verl-med-generate --model "$RUN_DIR/hf_model" --data "$data" --run_config "$RUN_DIR/.hydra/config.yaml" \
    --out "$RUN_DIR/test_generations.jsonl" ${VERL_MED_GENERATE_ARGS:-}
  name=$(run_name "$name")
  verl-med-eval "$name=$RUN_DIR/test_generations.jsonl" --data "$data" \
    --reward_kwargs "$name=$RUN_DIR/.hydra/config.yaml" --out "$RUN_DIR/report"
}

paper_table() {  # every evaluated run under $RUNS_DIR in one table: rows x datasets, mean ± sd over the seeds
  [ "$DRY_RUN" = true ] && return
  local reports=()
  mapfile -t reports < <(find "$RUNS_DIR" -path '*/report/metrics.json' | sort)
  [ "${#reports[@]}" -ge 2 ] || return 0
  verl-med-eval --table "${reports[@]}" --out "$RUNS_DIR/paper_table"
}

evaluate() {  # evaluate <name> <dataset>: evaluate_on the dataset's test split
  evaluate_on "$1" "$DATA_DIR/$2/test.parquet"
}

PAPER_EPOCHS=15  # trainer.total_epochs of every RL paper row (the paper's 15); the scripts' step counts use it

paper_row() {  # paper_row [--localization] <experiment|sft> [hydra overrides...]: a paper row on every dataset of
               # $DATASETS (with BUSI's localization data: --localization), every seed (seeds): train, then evaluate
               # the run as <experiment>@<seed>; at the end every evaluated row's seeds in one table (paper_table).
               # "sft" trains with verl's SFT trainer (train_sft), every other name with its experiment preset.
  local localization=false experiment DATASET SEED=""  # SEED names the runs of the seed loop only (run_name)
  if [ "${1:-}" = --localization ]; then localization=true; shift; fi
  experiment=$1
  shift
  for DATASET in $DATASETS; do
    prepare_medmnist "$DATASET"
    if [ "$localization" = true ]; then prepare_localization "$DATASET"; fi
    for SEED in $(seeds); do
      if [ "$experiment" = sft ]; then
        train_sft "$DATASET" "$@"
      else
        train "$experiment" "$DATASET" trainer.total_epochs="$PAPER_EPOCHS" "$@"
      fi
      evaluate "$experiment" "$DATASET"
    done
    SEED=""
  done
  paper_table
}

# --- medical VQA (examples/vqa/) --------------------------------------------------------------------------------

declare -A VQA_FACTS=()  # benchmark -> its facts, read once per script (a Python start each)
vqa_facts() {  # vqa_facts <benchmark>: its registered example-run facts (registry.ExampleRun) as vqa_* variables
  if [ -z "${VQA_FACTS[$1]:-}" ]; then
    # an unknown name: one error listing the known ones
    VQA_FACTS[$1]=$(python -m data_preprocess.vqa.example_run "$1") || exit 2
  fi
  eval "${VQA_FACTS[$1]}"
}

prepare_vqa() {  # prepare_vqa <benchmark> <folder> [converter flags...]: $DATA_DIR/<folder>/<split>.parquet; the
                 # benchmark's registered converter flags unless flags are given
  local benchmark=$1 out="$DATA_DIR/$2" input
  local vqa_release_variable vqa_download vqa_convert_args vqa_train_args vqa_evaluate_split vqa_train_on
  local vqa_generate_args
  shift 2
  # The converter writes every split or none (atomic), so one parquet means the folder is complete.
  if compgen -G "$out/*.parquet" >/dev/null; then echo "data: $out (already prepared)"; return; fi
  vqa_facts "$benchmark"
  input=${!vqa_release_variable:-}
  if [ -z "$input" ] || [ ! -e "$input" ]; then
    echo "error: $benchmark needs its public release: download it (${vqa_download:-see its card}) and set" \
         "$vqa_release_variable to it (python -m data_preprocess.vqa --help lists what --input must hold)." >&2
    exit 2
  fi
  [ "$#" -gt 0 ] || set -- "${vqa_convert_args[@]}"
  python -m data_preprocess.vqa --benchmark "$benchmark" --input "$input" --output_dir "$out" "$@"
}

train_vqa() {  # train_vqa <benchmark> <folder> [hydra overrides...]: the vqa preset, the benchmark's registered
               # training overrides, then these
  local benchmark=$1 folder=$2
  local vqa_release_variable vqa_download vqa_convert_args vqa_train_args vqa_evaluate_split vqa_train_on
  local vqa_generate_args
  shift 2
  vqa_facts "$benchmark"
  train vqa "$folder" "${vqa_train_args[@]}" "$@"
}
