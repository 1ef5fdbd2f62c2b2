"""The no-image control (as lmms-eval's ``medxpertqa_mm_no_image``): ``verl-med-generate --no_image`` blanks every
image (same size and mode, so the prompt's image tokens are unchanged) and marks its answers; ``verl-med-eval``
reports that run as the control beside the real one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_fixtures import vqa_rows, write_vqa_generations
from PIL import Image

from verl_med_plugin.evaluation import evaluate
from verl_med_plugin.evaluation.generate import IMAGE_CONTROL, GenerationRequest, blank_images, build_parser


def _request(*images: Image.Image) -> GenerationRequest:
    return GenerationRequest("slake/test/0", "<image>Is this a CT?", list(images), "yes", "verl_med/slake", {"a": 1})


def test_blank_images_keep_size_and_mode_and_lose_the_content():
    """Mutation checked: returning the request's own images -> the pixels still vary."""
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    grey = Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8))
    original = _request(picture, grey)
    [blanked] = blank_images([original])
    assert [(i.size, i.mode) for i in blanked.images] == [((30, 20), "RGB"), ((8, 8), "L")]
    assert all(np.asarray(i).max() == 0 for i in blanked.images)
    assert blanked.extra_info == {"a": 1, "image_control": IMAGE_CONTROL} and original.extra_info == {"a": 1}
    assert np.asarray(original.images[0]).max() > 0  # the real run's images are untouched
    assert (blanked.prompt_text, blanked.prompt_id) == (original.prompt_text, original.prompt_id)


def test_the_flag_is_on_the_command_line():
    args = build_parser().parse_args(["--model", "m", "--data", "d.parquet", "--out", "o.jsonl", "--no_image"])
    assert args.no_image


def _control(path, rows):
    """The fixture's generations as the control wrote them: extra_info.image_control on every answer."""
    lines = [json.loads(x) for x in write_vqa_generations(path, rows).read_text().splitlines()]
    for line in lines:
        line["extra_info"] = {**line["extra_info"], "image_control": IMAGE_CONTROL}
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_the_control_run_is_reported_beside_the_real_one(tmp_path):
    """Mutation checked: dropping the ``image_control`` read in ``evaluate_run`` -> no marker on the control run."""
    rows = vqa_rows()
    real = write_vqa_generations(tmp_path / "real.jsonl", rows)
    control = _control(tmp_path / "control.jsonl", rows)
    args = [f"real={real}", f"no_image={control}", "--out", str(tmp_path / "r"), "--bootstrap", "0"]
    assert evaluate.main(args) == 0
    runs = {r["name"]: r for r in json.loads((tmp_path / "r" / "metrics.json").read_text())["runs"]}
    assert runs["no_image"]["image_control"] == IMAGE_CONTROL and "image_control" not in runs["real"]
    assert set(runs["no_image"]["datasets"]) == set(runs["real"]["datasets"]) == {"slake", "omnimedvqa"}


def test_a_run_mixing_control_and_real_answers_is_refused(tmp_path, capsys):
    rows = vqa_rows()
    control = _control(tmp_path / "control.jsonl", rows)
    real_lines = write_vqa_generations(tmp_path / "real.jsonl", rows).read_text()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(control.read_text() + real_lines.replace('"prompt_id": "', '"prompt_id": "x'))
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([f"m={mixed}", "--out", str(tmp_path / "r"), "--bootstrap", "0"])
    assert exit_info.value.code == 2
    assert "mixes answers with and without images" in capsys.readouterr().err
