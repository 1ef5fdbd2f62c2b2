"""The SFT row is evaluated on the checkpoint of lowest validation loss (verl's file logger), not the last one.

Mutation checked: choosing the highest saved step (``max(saved)``) fails the first test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verl_med_plugin.checkpoint_choice import ChoiceError, best_checkpoint, main


def _run(tmp_path, losses: dict[int, float], saved: list[int]):
    checkpoints = tmp_path / "checkpoints"
    for step in saved:
        (checkpoints / f"global_step_{step}").mkdir(parents=True)
    metrics = tmp_path / "sft_metrics.jsonl"
    lines = []
    for step in range(1, max(saved) + 1):  # train loss every step, val/loss where validated (verl's records)
        lines.append({"step": step, "data": {"train/loss": 1.0 / step}})
        if step in losses:
            lines.append({"step": step, "data": {"val/loss": losses[step]}})
    metrics.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return checkpoints, metrics


def test_the_lowest_validation_loss_wins(tmp_path):
    losses = {17: 0.9, 34: 0.41, 51: 0.47}  # the last epoch over-fits
    checkpoints, metrics = _run(tmp_path, losses, [17, 34, 51])
    steps = np.array(sorted(losses))
    expected = steps[np.argmin([losses[s] for s in steps])]
    assert best_checkpoint(checkpoints, metrics) == checkpoints / f"global_step_{expected}"


def test_only_saved_and_validated_steps_count(tmp_path, capsys):
    checkpoints, metrics = _run(tmp_path, {10: 0.1, 20: 0.5}, [20, 30])  # step 10 validated but not kept
    assert best_checkpoint(checkpoints, metrics).name == "global_step_20"
    checkpoints, metrics = _run(tmp_path / "none", {5: 0.3}, [7])
    with pytest.raises(ChoiceError, match="has a val/loss"):
        best_checkpoint(checkpoints, metrics)
    with pytest.raises(SystemExit) as exit_:
        main(["--checkpoints", str(checkpoints), "--metrics", str(metrics)])
    assert exit_.value.code == 2 and capsys.readouterr().err.startswith("verl-med: error:")
