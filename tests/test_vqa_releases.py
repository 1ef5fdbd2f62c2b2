"""The VQA converters and rewards against the public releases as they are now: SLAKE's renamed validation file,
its all-``source.jpg`` image names, OmniMedVQA's ``modality`` record in ``Chest CT Scan.json`` and MedXpertQA-MM's
single-letter option texts. Each fixture follows the card or loader cited beside it; each test names the
mutation of the fix it was checked to fail under."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from convert_checks import no_outputs, read_rows
from fixtures_data import REPO
from fixtures_vqa import image_bytes, slake_record, write_medxpertqa, write_omnimedvqa, write_slake

from data_preprocess.common import ConversionError
from data_preprocess.vqa import convert
from reward_fns import compute_score


def _splits(written: dict[str, Path]) -> dict[str, int]:
    return {name: len(read_rows(path)) for name, path in written.items()}


# --- SLAKE: both names of the validation file (BoKelvin/SLAKE commit b2eb8c5 renamed validate.json) -------------


@pytest.mark.parametrize("val_name", ["validation.json", "validate.json"])
def test_slake_reads_the_validation_file_under_its_current_and_former_name(tmp_path, val_name):
    """Mutation checked: SPLIT_FILES with "validate.json" only -> the current layout writes no val.parquet
    (and, declared splits removed, exits 0 with train and test alone)."""
    src = write_slake(tmp_path / "src", val_name=val_name)
    written = convert("slake", src, tmp_path / "out", progress=False)
    assert _splits(written) == {"train.parquet": 3, "val.parquet": 1, "test.parquet": 1}
    assert read_rows(written["val.parquet"])[0]["extra_info"]["question"] == "Is this a T2 weighted MRI?"


def test_slake_without_its_validation_file_is_an_error_unless_the_splits_are_named(tmp_path):
    """A split of the release that is absent is an error naming it, with no output; naming the splits present
    with --split converts them. Mutation checked: ``wanted = ... else list(available)`` (the former default) ->
    exit 0 with train and test only."""
    src = write_slake(tmp_path / "src")
    (src / "validation.json").unlink()
    with pytest.raises(ConversionError, match=r"slake split val: .* has no such split \(it has: train, test"):
        convert("slake", src, tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")
    written = convert("slake", src, tmp_path / "out", splits=["train", "test"], progress=False)
    assert sorted(written) == ["test.parquet", "train.parquet"]
    with pytest.raises(ConversionError, match=r"--split val: "):
        convert("slake", src, tmp_path / "out2", splits=["validation"], progress=False)


def test_slake_with_both_validation_names_refuses_to_guess(tmp_path):
    """Mutation checked: taking the first name present -> no error."""
    src = write_slake(tmp_path / "src")
    (src / "validate.json").write_text((src / "validation.json").read_text())
    with pytest.raises(ConversionError, match="both validation.json and validate.json hold the val split"):
        convert("slake", src, tmp_path / "out", progress=False)


# --- image lookup: never the bare file name of a path with folders -------------------------------------------------


def _slake_missing_image(root: Path, members: tuple[int, ...]) -> Path:
    """SLAKE's layout with a train record whose ``xmlab9/source.jpg`` is not in ``imgs.zip``."""
    write_slake(root)
    records = json.loads((root / "train.json").read_text())
    records.append(slake_record(9, 9, "Is the lung healthy?", "No", "CLOSED", "Abnormality"))
    (root / "train.json").write_text(json.dumps(records))
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        for i in members:
            zf.writestr(f"imgs/xmlab{i}/source.jpg", image_bytes(100 + i, "JPEG"))
    return root


@pytest.mark.parametrize(
    ("members", "record", "image"), [((1, 2, 3), 4, 9), ((1, 3), 3, 2)], ids=["one-missing", "two-missing"]
)
def test_a_missing_slake_image_is_an_error_never_another_folders_source_jpg(tmp_path, members, record, image):
    """Every SLAKE image is ``xmlab<N>/source.jpg``; the first record without its image is named. Here the bare
    name is also ambiguous in the zip; the bare-name mutation alone is caught by the next test, together with
    the first-member-wins index (the former lookup) it makes this one pass with the wrong image."""
    src = _slake_missing_image(tmp_path / "src", members)
    with pytest.raises(ConversionError, match=rf"train.json: record {record}: image 'xmlab{image}/source.jpg' not"):
        convert("slake", src, tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")


def test_a_single_other_source_jpg_in_the_zip_is_not_taken_either(tmp_path):
    """With one ``source.jpg`` the bare name is not even ambiguous in the zip, and still the wrong image.
    Mutation checked: as above (bare-name suffix) -> the record gets xmlab1's image."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "train.json").write_text(json.dumps([slake_record(1, 5, "Is this a CT?", "Yes", "CLOSED", "Modality")]))
    (root / "validation.json").write_text("[]")
    (root / "test.json").write_text("[]")
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        zf.writestr("imgs/xmlab1/source.jpg", image_bytes(1, "JPEG"))
    with pytest.raises(ConversionError, match="image 'xmlab5/source.jpg' not found"):
        convert("slake", root, tmp_path / "out", progress=False)


def test_two_zip_members_sharing_the_released_path_are_ambiguous(tmp_path):
    """``a/imgs/xmlab1/source.jpg`` and ``b/imgs/xmlab1/source.jpg``: neither is taken. Mutation checked: the
    first member in sorted order wins (the former index) -> exit 0."""
    root = write_slake(tmp_path / "src")
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        for top in ("a", "b"):
            for i in (1, 2, 3):
                zf.writestr(f"{top}/imgs/xmlab{i}/source.jpg", image_bytes(i, "JPEG"))
    with pytest.raises(ConversionError, match="image 'xmlab1/source.jpg' not found"):
        convert("slake", root, tmp_path / "out", progress=False)


def test_skip_missing_images_is_a_counted_skip_on_the_command_line(tmp_path):
    """``--skip_missing_images`` writes the other questions, reports the count and the first record, exit 0;
    without it, exit 2 with one error line. Mutation checked: dropping the ``except MissingImage`` branch ->
    exit 2 with the flag."""
    src = _slake_missing_image(tmp_path / "src", (1, 2, 3))
    run = [sys.executable, "-m", "data_preprocess.vqa", "--benchmark", "slake", "--input", str(src)]
    proc = subprocess.run([*run, "--output_dir", str(tmp_path / "bad")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("verl-med: error: ")
    assert "record 4: image 'xmlab9/source.jpg' not found" in proc.stderr
    proc = subprocess.run(
        [*run, "--output_dir", str(tmp_path / "out"), "--skip_missing_images"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert "slake train: dropped 1 record(s): image not in the release (--skip_missing_images)" in proc.stderr
    assert "record 4: image 'xmlab9/source.jpg'" in proc.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["dropped"]["train"]["image not in the release (--skip_missing_images)"]["count"] == 1
    rows = read_rows(tmp_path / "out" / "train.parquet")
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2]
    assert "Is the lung healthy?" not in [r["extra_info"]["question"] for r in rows]


# --- OmniMedVQA: the Chest CT Scan record keyed ``modality`` -------------------------------------------------------


def _omni_with_modality_key(root: Path, file_stem: str) -> Path:
    """foreverbeliever/OmniMedVQA with one record of ``<file_stem>.json`` keyed ``modality`` instead of
    ``modality_type``, as GiovanniCornejo/MediVision-OmniMedVQA reports for ``Chest CT Scan.json``
    (reports/draft_reports/part1_dataexploration.md) and as Med-R1's ``unknown_train.json`` reflects."""
    top = write_omnimedvqa(root)
    path = top / "QA_information" / "Open-access" / f"{file_stem}.json"
    records = json.loads(path.read_text())
    records[2]["modality"] = records[2].pop("modality_type")
    path.write_text(json.dumps(records))
    return top


def test_omnimedvqa_accepts_the_chest_ct_scan_modality_record_by_name(tmp_path):
    """Mutation checked: FIELD_QUIRKS emptied -> "field 'modality_type' is missing", nothing written."""
    top = _omni_with_modality_key(tmp_path / "src", "Chest CT Scan")
    written = convert("omnimedvqa", top, tmp_path / "out", split_by="random", test_fraction=0.5, progress=False)
    rows = [r for path in written.values() for r in read_rows(path)]
    assert len(rows) == 18
    chest = [r for r in rows if r["extra_info"]["question"] == "What does image 2 show?"]
    assert {r["extra_info"]["modality"] for r in chest} >= {"CT(Computed Tomography)"}


def test_omnimedvqa_the_same_key_in_another_file_is_still_an_error(tmp_path):
    """The quirk is accepted by name only. Mutation checked: accepting ``modality`` in any file -> exit 0."""
    top = _omni_with_modality_key(tmp_path / "src", "ACRIMA")
    with pytest.raises(ConversionError, match=r"ACRIMA.json: record 2: field 'modality_type' is missing"):
        convert("omnimedvqa", top, tmp_path / "out", split_by="random", test_fraction=0.5, progress=False)
    assert no_outputs(tmp_path / "out")


# --- MedXpertQA-MM: option texts that are letters ------------------------------------------------------------------


def _medxpert_letter_texts(root: Path) -> Path:
    """TsinghuaC3I/MedXpertQA ``MM/test.jsonl`` with a question shaped like MM-21 of the release: option texts
    A "A", B "C", C "D", D "E", E "B", label B (the question text here is a stand-in)."""
    write_medxpertqa(root)
    options = {"A": "A", "B": "C", "C": "D", "D": "E", "E": "B"}
    record = {
        "id": "MM-21",
        "question": "Which labelled structure is the ulnar nerve?\nAnswer Choices: "
        + " ".join(f"({k}) {v}" for k, v in options.items()),
        "options": options,
        "label": "B",
        "images": ["MM-1-a.jpeg"],
        "medical_task": "Basic Science",
        "body_system": "Nervous",
        "question_type": "Understanding",
    }
    with (root / "MM" / "test.jsonl").open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    return root


def test_medxpertqa_letter_texts_grade_the_letter_the_prompt_asks_for(tmp_path):
    """The right letter scores 1, the letter whose option text is the right letter scores 0. Mutation checked:
    ``letter_first=False`` in the mcq parser -> "B" scores 0 (read as option E's text "B") and "C" scores 1."""
    src = _medxpert_letter_texts(tmp_path / "src")
    written = convert("medxpertqa_mm", src, tmp_path / "out", splits=["test"], progress=False)
    row = read_rows(written["test.parquet"])[-1]
    assert row["reward_model"]["ground_truth"] == "C" and row["extra_info"]["options"] == ["A", "C", "D", "E", "B"]
    scores = {
        letter: compute_score(
            row["data_source"],
            f"<think>x</think><answer>{letter}</answer>",
            row["reward_model"]["ground_truth"],
            row["extra_info"],
        )["acc"]
        for letter in "ABCDE"
    }
    assert scores == {"A": 0.0, "B": 1.0, "C": 0.0, "D": 0.0, "E": 0.0}
    assert compute_score(row["data_source"], "<think>x</think><answer>B. C</answer>", "C", row["extra_info"])[
        "acc"
    ] == pytest.approx(1.0)


def test_medxpertqa_letter_texts_are_marked_in_the_prompt(tmp_path):
    """Mutation checked: ``letter_texts`` returning False -> the collision row's prompt is the plain one."""
    src = _medxpert_letter_texts(tmp_path / "src")
    rows = read_rows(convert("medxpertqa_mm", src, tmp_path / "out", splits=["test"], progress=False)["test.parquet"])
    marked = ["read as an option letter" in r["prompt"][-1]["content"] for r in rows]
    assert marked == [False, False, True]


# --- no prompt holds its own answer: modality questions get no modality card ----------------------------------------


def _omni_modality_question(root: Path) -> Path:
    """foreverbeliever/OmniMedVQA with a modality question as Med-R1 lists it (Yuxiang-Lai117/Med-R1@88d76c7,
    Splits/modality/test/CT(Computed Tomography)_test.json, first record: "What imaging technique is employed for
    obtaining this image? A)Mammogram, B)Positron emission tomography (PET), C)CT, D)Fluoroscopy", answer C)."""
    top = write_omnimedvqa(root)
    path = top / "QA_information" / "Open-access" / "Chest CT Scan.json"
    records = json.loads(path.read_text())
    records[0].update(
        question="What imaging technique is employed for obtaining this image?",
        question_type="Modality Recognition",
        gt_answer="CT",
        option_A="Mammogram",
        option_B="Positron emission tomography (PET)",
        option_C="CT",
        option_D="Fluoroscopy",
    )
    path.write_text(json.dumps(records))
    return top


def _without_question(content: str, info: dict) -> str:
    """The user turn without the question and its option lines: what the prompt adds around the question."""
    rest = content.replace(info["question"], "")
    for letter, text in zip("ABCDEFGH", info["options"], strict=False):
        rest = rest.replace(f"{letter}. {text}", "")
    return rest


def test_no_modality_question_prompt_names_its_answer(tmp_path):
    """The modality card (in the converter's prompt or injected by the dataset class, user and system modes)
    names the modality, which is the answer of a modality question. Mutation checked: ``asks_modality``
    returning False -> the OmniMedVQA and SLAKE modality rows carry "Modality: CT (computed tomography)" /
    "Modality: X-ray" and the assertion fails."""
    import re

    from verl_med_plugin.dataset import compose_messages
    from verl_med_plugin.med_settings import KnowledgeSettings

    omni = _omni_modality_question(tmp_path / "omni")
    written = convert("omnimedvqa", omni, tmp_path / "o", split_by="random", test_fraction=0.5, progress=False)
    rows = [r for path in written.values() for r in read_rows(path)]
    rows += read_rows(convert("slake", write_slake(tmp_path / "slake"), tmp_path / "s", progress=False)["test.parquet"])
    asked = [r for r in rows if re.search(r"modality|imaging technique", r["extra_info"]["question"], re.I)]
    assert {r["extra_info"]["answer"] for r in asked} == {"CT", "X-Ray"}
    for row in asked:
        info = row["extra_info"]
        answer = re.compile(rf"\b{re.escape(info['answer'].casefold())}\b")
        assert info["knowledge"] == ""
        for mode in ("user", "system"):
            messages = compose_messages(row["prompt"], info, KnowledgeSettings(mode=mode))
            around = " ".join(_without_question(m["content"], info) for m in messages).casefold()
            assert not answer.search(around), (mode, around)
    others = [r for r in rows if "modality" not in r["extra_info"]["question_type"].casefold()]
    assert others and all(r["extra_info"]["knowledge"].startswith("Modality: ") for r in others)


# --- splits: by image, held-out validation, Med-R1's published split files ------------------------------------------


def _omni_shared_images(root: Path) -> Path:
    """OmniMedVQA as released: several questions on one image (records 2k and 2k+1 share ``image_path``)."""
    top = write_omnimedvqa(root, per_dataset=12)
    for path in sorted((top / "QA_information" / "Open-access").glob("*.json")):
        records = json.loads(path.read_text())
        for k in range(1, len(records), 2):
            records[k]["image_path"] = records[k - 1]["image_path"]
        path.write_text(json.dumps(records))
    return top


def _image_keys(rows: list[dict]) -> set[bytes]:
    return {r["images"][0]["bytes"] for r in rows}


def test_omnimedvqa_random_split_keeps_each_image_in_one_split(tmp_path):
    """Mutation checked: the former per-question ``split_indices`` split -> an image's two questions land in train
    and test."""
    top = _omni_shared_images(tmp_path / "src")
    written = convert(
        "omnimedvqa", top, tmp_path / "out", split_by="random", test_fraction=0.3, val_fraction=0.2, progress=False
    )
    rows = {name: read_rows(path) for name, path in written.items()}
    assert sorted(rows) == ["test.parquet", "train.parquet", "val.parquet"]
    keys = [_image_keys(r) for r in rows.values()]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1 :])
    assert sum(len(r) for r in rows.values()) == 36


def _rad_shared_images(root: Path) -> Path:
    """flaviagiammarino/vqa-rad's layout (``data/{train,test}-00000-of-00001-<hash>.parquet``, ``image`` struct with
    embedded bytes): as in the release, one image is asked about several times (here 3 images x 2 questions)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image), ("question", pa.string()), ("answer", pa.string())])
    (root / "data").mkdir(parents=True)
    for split, n_images in (("train", 3), ("test", 1)):
        rows = [
            {"image": {"bytes": image_bytes(500 + 7 * k + (split == "test"), "JPEG"), "path": None}, **qa}
            for k in range(n_images)
            for qa in ({"question": "is there a fracture?", "answer": "no"}, {"question": "where?", "answer": "rib"})
        ]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "data" / f"{split}-00000-of-00001-ab.parquet")
    return root


def test_vqa_rad_holds_out_validation_images_from_train_never_test(tmp_path):
    """VQA-RAD has no validation split: ``val_from_train`` writes one from train's images, the preset's validation
    curve reads it, test is untouched. Mutation checked: ``min_val=0`` -> no val image at this size (empty val);
    ``image_key``/hash grouping replaced by per-question keys -> an image in train and val."""
    from fixtures_perception import compose_med_config

    src = _rad_shared_images(tmp_path / "src")
    written = convert("vqa_rad", src, tmp_path / "out", val_from_train=0.1, progress=False)
    rows = {name: read_rows(path) for name, path in written.items()}
    assert {k: len(v) for k, v in rows.items()} == {"train.parquet": 4, "val.parquet": 2, "test.parquet": 2}
    assert not _image_keys(rows["train.parquet"]) & _image_keys(rows["val.parquet"])
    assert len(_image_keys(rows["val.parquet"])) == 1
    config = compose_med_config("med/experiment=vqa", "med.dataset=vqa_rad", "med.data_dir=/d")
    assert config.data.val_files == "/d/vqa_rad/val.parquet"


def test_val_from_train_on_a_release_with_validation_is_an_error(tmp_path):
    with pytest.raises(ConversionError, match="--val_from_train 0.1: slake has a val split"):
        convert("slake", write_slake(tmp_path / "src"), tmp_path / "out", val_from_train=0.1, progress=False)


def _medr1_splits(top: Path, root: Path, train_share: float = 0.5) -> Path:
    """Med-R1's split files (Yuxiang-Lai117/Med-R1@88d76c73e7d21cd958a2b2dc32eca038be766f8f,
    ``Splits/modality/{train,test}/<modality_type>_{train,test}.json``): records {"image", "problem": question +
    " A)<opt>, B)<opt>, ...", "solution": "<answer> C </answer>"}, built from the release fixture's questions."""
    by_modality: dict[str, list[dict]] = {}
    for path in sorted((top / "QA_information" / "Open-access").glob("*.json")):
        for r in json.loads(path.read_text()):
            options = [r[f"option_{x}"] for x in "ABCD" if f"option_{x}" in r]
            by_modality.setdefault(r["modality_type"], []).append(
                {
                    "image": r["image_path"],
                    "problem": f"{r['question']} "
                    + ", ".join(f"{x}){o}" for x, o in zip("ABCD", options, strict=False)),
                    "solution": f"<answer> {'ABCD'[options.index(r['gt_answer'])]} </answer>",
                }
            )
    for modality, records in by_modality.items():
        cut = int(len(records) * train_share)
        for split, part in (("train", records[:cut]), ("test", records[cut:])):
            (root / "modality" / split).mkdir(parents=True, exist_ok=True)
            (root / "modality" / split / f"{modality}_{split}.json").write_text(json.dumps(part, indent=4))
    return root


def test_medr1_split_files_give_its_train_by_test_table_rows(tmp_path):
    """Trained on Med-R1's CT train file, tested on every modality's test file, CT included (the same-modality
    cell). Mutation checked: testing only on the groups not trained on (the former cross-modality split) -> no CT
    test row."""
    top = write_omnimedvqa(tmp_path / "src")
    splits = _medr1_splits(top, tmp_path / "Splits")
    ct = "CT(Computed Tomography)"
    written = convert(
        "omnimedvqa",
        top,
        tmp_path / "out",
        split_by="medr1",
        medr1_splits=str(splits),
        train_groups=[ct],
        progress=False,
    )
    rows = {name: read_rows(path) for name, path in written.items()}
    assert {r["extra_info"]["modality"] for r in rows["train.parquet"]} == {ct}
    assert len(rows["train.parquet"]) == 3
    tested = [r["extra_info"]["modality"] for r in rows["test.parquet"]]
    assert sorted(set(tested)) == sorted([ct, "Fundus Photography", "X-Ray"]) and len(tested) == 9
    expected = json.loads((splits / "modality" / "test" / f"{ct}_test.json").read_text())
    ct_rows = [r for r in rows["test.parquet"] if r["extra_info"]["modality"] == ct]
    assert [r["extra_info"]["question"] for r in ct_rows] == [e["problem"].split(" A)")[0] for e in expected]


def test_medr1_split_record_not_in_the_release_or_with_another_answer_is_an_error(tmp_path):
    """Mutation checked: the solution letter check removed -> the wrong-answer file converts."""
    top = write_omnimedvqa(tmp_path / "src")
    splits = _medr1_splits(top, tmp_path / "Splits")
    path = splits / "modality" / "test" / "X-Ray_test.json"
    records = json.loads(path.read_text())
    records[1]["solution"] = (
        "<answer> D </answer>" if "A </answer>" in records[1]["solution"] else "<answer> A </answer>"
    )
    path.write_text(json.dumps(records))
    with pytest.raises(ConversionError, match=r"X-Ray_test.json: record 1: field 'solution'"):
        convert("omnimedvqa", top, tmp_path / "out", split_by="medr1", medr1_splits=str(splits), progress=False)
    records[1]["image"] = "Images/nowhere.png"
    path.write_text(json.dumps(records))
    with pytest.raises(ConversionError, match=r"X-Ray_test.json: record 1: image 'Images/nowhere.png'"):
        convert("omnimedvqa", top, tmp_path / "out", split_by="medr1", medr1_splits=str(splits), progress=False)
    assert no_outputs(tmp_path / "out")
