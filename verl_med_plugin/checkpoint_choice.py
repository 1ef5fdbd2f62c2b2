"""``python -m verl_med_plugin.checkpoint_choice``: the SFT baseline's checkpoint chosen on validation.

verl's SFT trainer validates and saves after each epoch (``configs/sft_med.yaml``) and logs ``val/loss`` per step
to the file logger (``VERL_FILE_LOGGER_PATH``, a JSONL of ``{"step", "data"}``). The row is evaluated on the
saved checkpoint with the lowest validation loss (ties: the earlier step), not on the last one: the RL rows pick
nothing on test either, and the last SFT epoch may have over-fitted the small train sets.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from data_preprocess.common import ERROR_PREFIX, USER_ERROR_EXIT

VAL_KEY = "val/loss"


class ChoiceError(ValueError):
    """No saved checkpoint has a validation loss; the message names the files."""


def validation_losses(metrics: Path) -> dict[int, float]:
    """Step -> ``val/loss`` from verl's file-logger JSONL (the last value of a step wins: a resumed run)."""
    losses: dict[int, float] = {}
    for number, line in enumerate(metrics.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            value = record.get("data", {}).get(VAL_KEY)
            step = int(record["step"])
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ChoiceError(f"{metrics}:{number}: not a verl file-logger record ({err})") from None
        if isinstance(value, (int, float)) and math.isfinite(value):
            losses[step] = float(value)
    return losses


def best_checkpoint(checkpoints: Path, metrics: Path) -> Path:
    """The ``global_step_<n>`` folder with the lowest validation loss among the saved ones."""
    saved = {
        int(p.name.removeprefix("global_step_")): p
        for p in checkpoints.glob("global_step_*")
        if p.is_dir() and p.name.removeprefix("global_step_").isdigit()
    }
    losses = validation_losses(metrics)
    candidates = sorted((losses[step], step) for step in saved if step in losses)
    if not candidates:
        raise ChoiceError(
            f"no checkpoint in {checkpoints} (steps {sorted(saved)}) has a {VAL_KEY} in {metrics} (steps "
            f"{sorted(losses)}): set trainer.save_freq and trainer.test_freq to the same cadence"
        )
    return saved[candidates[0][1]]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m verl_med_plugin.checkpoint_choice", description=__doc__)
    parser.add_argument("--checkpoints", required=True, type=Path, help="trainer.default_local_dir of the run")
    parser.add_argument("--metrics", required=True, type=Path, help="the run's file-logger JSONL")
    args = parser.parse_args(argv)
    try:
        print(best_checkpoint(args.checkpoints, args.metrics))
    except (ChoiceError, OSError) as err:
        print(f"{ERROR_PREFIX} {err}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


if __name__ == "__main__":
    main()
