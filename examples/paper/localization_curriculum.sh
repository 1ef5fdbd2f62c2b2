#!/usr/bin/env bash
# Paper row "+ localization stage" plus curriculum re-weighting (our addition, not in the paper): the sampler also
# re-weights samples and classes the policy still gets wrong; read it against localization.sh (uniform).
# Datasets ($DATASETS), needs (BUSI_DIR) and time: as localization.sh (same steps; re-weighting costs nothing).
EXPERIMENT=localization_curriculum exec bash "$(dirname "$0")/localization.sh" "$@"
