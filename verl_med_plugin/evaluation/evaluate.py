"""``verl-med-eval``'s public names in one place, for the command (``verl_med_plugin.evaluation.evaluate:main``)
and the callers that import them from here. The code is split by job:

- ``scoring``: each record parsed by the training reward's parser into a ``Scored`` sample;
- ``aggregation``: per-dataset metrics, prompt outcomes, step curves, paired comparisons of runs;
- ``rollouts``: the zero-advantage share of a rollout dump;
- ``run``: one run's evaluation (``evaluate_run``), the above in order;
- ``cli``: the command line (arguments, reward kwargs, the report folder);
- ``records``: the typed shapes that flow between them and into the report (``report``).
"""

from __future__ import annotations

import sys

from verl_med_plugin.evaluation.aggregation import (
    VQA_KIND,
    check_comparable,
    comparisons,
    dataset_metrics,
    positive_classes,
    prompt_outcomes,
    step_curves,
    vote_key,
    vqa_dataset_metrics,
)
from verl_med_plugin.evaluation.cli import (
    REPORT_SUFFIXES,
    build_parser,
    check_reward_kwargs,
    load_reward_kwargs,
    main,
    named_paths,
    parse_positive,
    prepare_out,
    reward_kwargs_by_run,
)
from verl_med_plugin.evaluation.dumps import EvalDataError, PreparedData, read_records
from verl_med_plugin.evaluation.rollouts import rollout_sparsity
from verl_med_plugin.evaluation.run import evaluate_run, judge_open
from verl_med_plugin.evaluation.scoring import (
    CLASSIFICATION_TASKS,
    Scored,
    last_named_class,
    score_record,
    score_records,
    vqa_truth,
)

__all__ = [
    "CLASSIFICATION_TASKS",
    "REPORT_SUFFIXES",
    "VQA_KIND",
    "EvalDataError",
    "PreparedData",
    "Scored",
    "build_parser",
    "check_comparable",
    "check_reward_kwargs",
    "comparisons",
    "dataset_metrics",
    "evaluate_run",
    "judge_open",
    "last_named_class",
    "load_reward_kwargs",
    "main",
    "named_paths",
    "parse_positive",
    "positive_classes",
    "prepare_out",
    "prompt_outcomes",
    "read_records",
    "reward_kwargs_by_run",
    "rollout_sparsity",
    "score_record",
    "score_records",
    "step_curves",
    "vote_key",
    "vqa_dataset_metrics",
    "vqa_truth",
]

if __name__ == "__main__":
    sys.exit(main())
