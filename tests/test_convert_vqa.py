"""Medical-VQA converters: every benchmark converts from a fixture in its public layout into rows that
follow the contract of docs/vqa.md, load in verl's RLHFDataset within the prompt length limit, and whose
reference answers score acc = 1; reruns are byte-identical; bad input is one error and no output."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from convert_checks import no_outputs, read_rows
from fixtures_data import REPO
from fixtures_vqa import (
    FIXTURES,
    OMNI_STUDY,
    VQAFixture,
    vqa_fixture,
    write_medxpertqa,
    write_omnimedvqa,
    write_pmc_vqa,
    write_slake,
    write_vqa_rad,
)

from data_preprocess.common import ConversionError
from data_preprocess.schema import EXTRA_INFO_DEFAULTS, arrow_schema
from data_preprocess.vqa import benchmark_names, convert
from data_preprocess.vqa.omnimedvqa import open_access_subsets
from reward_fns.task_type import TaskType

MAX_PROMPT_LENGTH = yaml.safe_load((REPO / "configs" / "med_grpo.yaml").read_text())["data"]["max_prompt_length"]


def _convert(name: str, tmp_path: Path, out: str = "out", **kw) -> tuple[Path, dict[str, Path]]:
    fixture = vqa_fixture(name)
    src = tmp_path / "src"
    if not src.exists():
        fixture.write(src)
    return src, convert(name, src, tmp_path / out, progress=False, **{**fixture.options, **kw})


def test_every_registered_benchmark_has_a_fixture():
    """Benchmarks are found in data_preprocess/vqa/ (not listed); each needs its fixture, and no fixture is stale."""
    assert benchmark_names() == sorted(FIXTURES)


@pytest.mark.parametrize("name", benchmark_names())
def test_fixture_converts_to_contract_rows_that_score(name, tmp_path):
    check_contract_rows(name, tmp_path)


def check_contract_rows(name: str, tmp_path: Path) -> None:
    """Benchmark ``name``'s fixture converts into rows of the docs/vqa.md contract whose reference answers score."""
    from reward_fns import compute_score
    from reward_fns.reference import reference_response

    _, written = _convert(name, tmp_path)
    expected_types = vqa_fixture(name).expected
    assert sorted(written) == sorted(f"{s}.parquet" for s in expected_types)
    for split, expected in expected_types.items():
        table = pq.read_table(written[f"{split}.parquet"])
        assert table.schema.equals(arrow_schema())  # the one schema: concatenates with MedMNIST files
        rows = table.to_pylist()
        assert sorted(r["extra_info"]["task_type"] for r in rows) == sorted(expected)
        for i, row in enumerate(rows):
            info, gt = row["extra_info"], row["reward_model"]["ground_truth"]
            assert set(info) == set(EXTRA_INFO_DEFAULTS)
            assert row["data_source"] == f"verl_med/{name}" and info["dataset"] == name
            assert (info["split"], info["index"]) == (split, i)
            assert TaskType(info["task_type"]).is_vqa and info["answer"] and info["question"]
            prompt = row["prompt"][-1]["content"]
            assert prompt.count("<image>") == len(row["images"]) >= 1 and info["question"] in prompt
            if info["task_type"] == "mcq":
                assert info["labels"] == info["options"] and gt in info["options"]
                assert info["option_style"] == "letter"
                letters = [f"{chr(ord('A') + k)}. {text}" for k, text in enumerate(info["options"])]
                assert "\n".join(letters) in prompt  # lettered A, B, ... in order
            elif info["task_type"] == "closed":
                assert info["labels"] == ["yes", "no"] and gt in ("yes", "no") and info["options"] == []
                assert info["answer"].strip(" .").lower() == gt
            else:
                assert info["labels"] == [] and info["options"] == [] and gt == info["answer"].strip()
            result = compute_score(row["data_source"], reference_response(gt, info), gt, info)
            assert result["acc"] == 1.0, (name, gt, info["task_type"], result)


def test_benchmark_metadata_is_kept(tmp_path):
    rows = read_rows(_convert("slake", tmp_path)[1]["train.parquet"])
    assert [r["extra_info"]["question"] for r in rows][0] == "Does the picture contain liver?"  # English only
    bigger = rows[1]["extra_info"]
    # A benchmark-"CLOSED" question whose answer is not yes/no is open, and keeps SLAKE's own category.
    assert (bigger["task_type"], bigger["answer"], bigger["question_type"]) == ("open", "Liver", "Size")
    assert (rows[2]["extra_info"]["modality"], rows[2]["extra_info"]["organ"]) == ("X-Ray", "Chest")
    pmc = read_rows(_convert("pmc_vqa", tmp_path / "pmc")[1]["train.parquet"])[0]
    assert pmc["extra_info"]["options"][0] == "Diffuse uptake pattern"  # "A:" prefix stripped
    assert pmc["extra_info"]["answer"] == "B" and pmc["reward_model"]["ground_truth"] == "Focal uptake pattern"
    med = read_rows(_convert("medxpertqa_mm", tmp_path / "mx")[1]["test.parquet"])
    assert "Answer Choices" not in med[0]["prompt"][-1]["content"]  # the release's own option list is dropped
    assert len(med[1]["images"]) == 2 and med[1]["prompt"][-1]["content"].startswith("<image><image>")
    assert (med[1]["extra_info"]["organ"], med[1]["extra_info"]["question_type"]) == ("Integumentary", "Reasoning")
    omni = read_rows(_convert("omnimedvqa", tmp_path / "om")[1]["test.parquet"])
    assert {r["extra_info"]["modality"] for r in omni} == {"Fundus Photography", "CT(Computed Tomography)", "X-Ray"}
    assert {r["extra_info"]["question_type"] for r in omni} == {
        "Disease Diagnosis",
        "Modality Recognition",
        "Anatomy Identification",
    }


def test_rows_carry_the_modality_knowledge_card(tmp_path):
    from data_preprocess.modality_knowledge import modality_knowledge

    key, text = modality_knowledge("CT")
    rows = read_rows(_convert("slake", tmp_path)[1]["train.parquet"])
    assert rows[0]["extra_info"]["modality"] == "CT" and rows[0]["extra_info"]["knowledge"] == text
    assert key and text


def test_rerun_is_byte_identical(tmp_path):
    for name in ("slake", "medxpertqa_mm"):
        _, first = _convert(name, tmp_path / name, "a")
        _, second = _convert(name, tmp_path / name, "b")
        assert {k: p.read_bytes() for k, p in first.items()} == {k: p.read_bytes() for k, p in second.items()}


def test_split_selection_and_unpacked_images(tmp_path):
    src = write_slake(tmp_path / "src", zipped=False)  # imgs/ unpacked instead of imgs.zip
    written = convert("slake", src, tmp_path / "out", splits=["validation"], progress=False)
    assert list(written) == ["val.parquet"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json", "val.parquet"]
    with pytest.raises(ConversionError, match="no such split"):
        convert("slake", src, tmp_path / "out2", splits=["dev2"], progress=False)
    assert no_outputs(tmp_path / "out2")


def test_omnimedvqa_generalisation_splits_by_modality_and_question_type(tmp_path):
    src = write_omnimedvqa(tmp_path / "src")
    assert open_access_subsets(src) == ["ACRIMA", "COVID-19 Radiography", "Chest CT Scan"]
    written = convert(
        "omnimedvqa",
        src,
        tmp_path / "mod",
        split_by="modality",
        train_groups=["X-Ray", "CT(Computed Tomography)"],
        progress=False,
    )
    train, test = (read_rows(written[f"{s}.parquet"]) for s in ("train", "test"))
    assert {r["extra_info"]["modality"] for r in train} == {"X-Ray", "CT(Computed Tomography)"}
    assert {r["extra_info"]["modality"] for r in test} == {"Fundus Photography"}
    written = convert(
        "omnimedvqa",
        src,
        tmp_path / "qt",
        split_by="question_type",
        train_groups=["Disease Diagnosis"],
        test_groups=["Modality Recognition"],
        val_fraction=0.5,
        progress=False,
    )
    parts = {s: read_rows(p) for s, p in ((k.split(".")[0], v) for k, v in written.items())}
    assert sorted(parts) == ["test", "train", "val"]
    assert {r["extra_info"]["question_type"] for r in parts["train"] + parts["val"]} == {"Disease Diagnosis"}
    assert {r["extra_info"]["question_type"] for r in parts["test"]} == {"Modality Recognition"}
    assert len(parts["train"]) + len(parts["val"]) == 6
    with pytest.raises(ConversionError, match=r"'Ultrasound'.*it has"):
        convert("omnimedvqa", src, tmp_path / "bad", split_by="modality", train_groups=["Ultrasound"], progress=False)
    with pytest.raises(ConversionError, match="share"):
        convert(
            "omnimedvqa",
            src,
            tmp_path / "bad",
            split_by="modality",
            train_groups=["X-Ray"],
            test_groups=["X-Ray"],
            progress=False,
        )
    with pytest.raises(ConversionError, match="only"):  # study flags are OmniMedVQA's
        convert("slake", write_slake(tmp_path / "sl"), tmp_path / "bad", split_by="modality", progress=False)
    # Restricted subsets ship no images: asking for them names the missing image.
    with pytest.raises(ConversionError, match=r"AIDA\.json: record 0: image 'Images/AIDA/x.png' not found"):
        convert("omnimedvqa", src, tmp_path / "bad", access="all", progress=False)
    assert no_outputs(tmp_path / "bad")


def test_omnimedvqa_zip_is_read_in_place_with_the_same_rows(tmp_path):
    """The download (``OmniMedVQA.zip``) converts without unpacking, byte-identical to the unpacked folder."""
    top = write_omnimedvqa(tmp_path / "unpacked")
    download = tmp_path / "download"
    download.mkdir()
    with zipfile.ZipFile(download / "OmniMedVQA.zip", "w") as zf:
        for path in sorted(top.rglob("*")):
            if path.is_file():
                zf.write(path, str(path.relative_to(top.parent)))
    assert open_access_subsets(download) == open_access_subsets(top)
    unpacked = convert("omnimedvqa", top, tmp_path / "a", progress=False, **OMNI_STUDY)
    zipped = convert("omnimedvqa", download, tmp_path / "b", progress=False, **OMNI_STUDY)
    assert {k: p.read_bytes() for k, p in unpacked.items()} == {k: p.read_bytes() for k, p in zipped.items()}


@pytest.mark.parametrize("name", benchmark_names())
def test_missing_field_is_one_error_naming_file_and_field_with_no_output(name, tmp_path):
    check_missing_field(name, tmp_path)


def check_missing_field(name: str, tmp_path: Path) -> None:
    """A required field dropped from benchmark ``name``'s fixture: one error naming the file and field, no output."""
    fixture = vqa_fixture(name)
    src = fixture.write(tmp_path / "src")
    path, field = fixture.drop_field(src)
    with pytest.raises(ConversionError) as err:
        convert(name, src, tmp_path / "out", progress=False, **fixture.options)
    assert str(path) in str(err.value) and f"'{field}'" in str(err.value)
    assert no_outputs(tmp_path / "out")  # earlier splits were already written: none is published


def test_bad_answer_letter_and_corrupt_image_name_the_record(tmp_path):
    src = write_medxpertqa(tmp_path / "mx")
    path = src / "MM" / "dev.jsonl"
    path.write_text(path.read_text().replace('"label": "A"', '"label": "Z"'))
    with pytest.raises(ConversionError, match=r"dev\.jsonl: line 1: field 'label': 'Z' is not one of"):
        convert("medxpertqa_mm", src, tmp_path / "out", progress=False)
    src = write_pmc_vqa(tmp_path / "pmc")
    (src / "images.zip").unlink()
    (src / "images").mkdir()
    for name in ("PMC1064097_F1.jpg", "PMC2000001_F2.jpg", "PMC3000002_F3.jpg"):
        (src / "images" / name).write_bytes(b"not a jpeg")
    with pytest.raises(ConversionError, match=r"train\.csv: row 2: image: unreadable"):
        convert("pmc_vqa", src, tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")


def test_rows_load_in_verl_within_the_prompt_length_limit(tmp_path, qwen_tokenizer, qwen_processor):
    """The length filter verl applies at training start (max_prompt_length of configs/med_grpo.yaml, images
    included) keeps every row of every benchmark, even with the knowledge card in the prompt: the prompts and
    the stored image sizes (full-size figures in the PMC-VQA and MedXpertQA fixtures) fit."""
    from convert_checks import rl_dataset
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    files = []
    for name in benchmark_names():  # the default prompt, and the longest: the modality card baked into the prompt
        files += _convert(name, tmp_path / name)[1].values()
        files += _convert(name, tmp_path / name, "with_knowledge", template="knowledge")[1].values()
    n_rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": MAX_PROMPT_LENGTH,
            "filter_overlong_prompts": True,
            "cache_dir": str(tmp_path / "cache"),
            # None, not 1: the filter then runs in this process. datasets >= 5 starts a process
            # pool for num_proc=1 too, and a child forked from a process running torch and
            # tokenizer threads can wait forever on a lock (the hang seen under pytest -n 2).
            "filter_overlong_prompts_workers": None,
        }
    )
    dataset = RLHFDataset([str(f) for f in files], qwen_tokenizer, config, qwen_processor)
    assert len(dataset) == n_rows > 0
    unfiltered = rl_dataset(files, qwen_tokenizer, qwen_processor, tmp_path)
    n_images = [
        sum(part["type"] == "image" for m in unfiltered[i]["raw_prompt"] for part in m["content"])
        for i in range(n_rows)
    ]
    assert sorted(set(n_images)) == [1, 2]  # MedXpertQA's two-image question: two image parts after verl's parsing


def test_cli_writes_splits_and_reports_bad_input_without_traceback(tmp_path):
    src = write_vqa_rad(tmp_path / "rad")
    run = [sys.executable, "-m", "data_preprocess.vqa", "--benchmark", "vqa_rad", "--input", str(src)]
    proc = subprocess.run(
        [*run, "--output_dir", str(tmp_path / "out"), "--split", "test"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / "out" / "test.parquet")]
    proc = subprocess.run(
        [*run[:-1], str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "o2")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"verl-med: error: --input {tmp_path / 'nowhere'}: no such file")


# --- a contribution: one benchmark module and its fixture, found by the registry -----------------------------------

TOY_MODULE = '''"""Toy VQA: a throwaway benchmark of the contribution test. ``qa.json``: a list of {split,
question, answer, image}; images beside it."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

from data_preprocess.vqa.core import VQAItem, item_or_drop, require
from data_preprocess.vqa.registry import SplitItems, register


def _items(path: Path, split: str):
    for i, record in enumerate(json.loads(path.read_text())):
        where = f"{path}: record {i}"
        if require(record, "split", where) == split:
            yield item_or_drop(lambda r=record, w=where: VQAItem(
                where=w,
                question=require(r, "question", w),
                answer=require(r, "answer", w),
                images=[(path.parent / require(r, "image", w)).read_bytes],
                image_key=require(r, "image", w),
            ))


@register("toy_vqa", card="https://example.org/toy_vqa", layout="a folder with qa.json and its images")
def read(input_path: Path, stack: ExitStack) -> dict[str, SplitItems]:
    path = input_path / "qa.json"
    return {split: (lambda s=split: _items(path, s)) for split in ("train", "test")}
'''


def write_toy_release(root: Path) -> Path:
    """The toy benchmark's release: two images, closed and open questions in a train and a test split."""
    from fixtures_vqa import image_bytes

    root.mkdir(parents=True)
    for k in range(2):
        (root / f"img{k}.png").write_bytes(image_bytes(k))
    records = [
        {"split": "train", "question": "Is there a lesion?", "answer": "yes", "image": "img0.png"},
        {"split": "train", "question": "Which organ is shown?", "answer": "liver", "image": "img0.png"},
        {"split": "test", "question": "Is the image normal?", "answer": "no", "image": "img1.png"},
    ]
    (root / "qa.json").write_text(json.dumps(records))
    return root


def drop_toy_answer(src: Path) -> tuple[Path, str]:
    records = json.loads((src / "qa.json").read_text())
    del records[1]["answer"]
    (src / "qa.json").write_text(json.dumps(records))
    return src / "qa.json", "answer"


@pytest.fixture
def toy_benchmark(tmp_path, monkeypatch):
    """A contributor's two additions, made in a scratch folder: the benchmark module (on the package's search path,
    as a file dropped into data_preprocess/vqa/ would be) and its fixture entry (as one added to FIXTURES)."""
    import data_preprocess.vqa as vqa_package
    from data_preprocess.vqa import registry

    extra = tmp_path / "contributed"
    extra.mkdir()
    (extra / "toy_vqa.py").write_text(TOY_MODULE)
    monkeypatch.setattr(vqa_package, "__path__", [*vqa_package.__path__, str(extra)])
    monkeypatch.setattr(registry, "BENCHMARKS", dict(registry.BENCHMARKS))
    monkeypatch.delitem(sys.modules, "data_preprocess.vqa.toy_vqa", raising=False)
    monkeypatch.setitem(
        FIXTURES,
        "toy_vqa",
        VQAFixture(write_toy_release, {"train": ["closed", "open"], "test": ["closed"]}, drop_toy_answer),
    )
    yield "toy_vqa"
    sys.modules.pop("data_preprocess.vqa.toy_vqa", None)


def test_a_new_benchmark_is_its_module_and_its_fixture(toy_benchmark, tmp_path):
    """Adding a VQA benchmark touches its module and its fixture entry (and its preset, checked by
    test_examples_vqa.py): nothing lists it. The registry finds the module, and the per-benchmark tests run on it as
    on a shipped one. Mutation checked: a hard-coded module tuple in ``data_preprocess.vqa._load_all`` (the former
    ``MODULES``) fails here."""
    assert toy_benchmark in benchmark_names()
    assert benchmark_names() == sorted(FIXTURES)
    check_contract_rows(toy_benchmark, tmp_path / "rows")
    check_missing_field(toy_benchmark, tmp_path / "missing")
