"""Hostile releases, beyond security (``test_security_release.py``): inputs that ended in a traceback now end in one
``verl-med: error:`` line naming the file, record and field, exit 2, with no output (deep JSON, non-UTF-8 CSV and
JSONL, a 16 MB CSV field, a zip member with a bad CRC or a password, ``<image>`` in a question, ``knowledge draft
--out`` at a folder or on a read-only or full disk, the evaluation report on a full disk); YAML alias bombs in task
cards are refused in a short line. Each test failed before its fix (checked by stashing it)."""

from __future__ import annotations

import csv
import errno
import json
import time
import zipfile
from pathlib import Path

import pytest
from convert_checks import no_outputs, read_rows
from fixtures_vqa import PMC_HEADER, pmc_row, write_medxpertqa, write_pmc_vqa, write_slake

from data_preprocess import atomic, knowledge, validate
from data_preprocess.folder import main as folder_main
from data_preprocess.vqa.__main__ import main as vqa_main

DEPTH = 200_000


def run(main, argv: list[str], capsys) -> tuple[int, str]:
    """A command in-process as its console script runs it: (exit status, its one error line)."""
    try:
        validate.run_guarded(main, argv)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("verl-med: error:")]
    assert "Traceback" not in err and len(lines) <= 1, err
    return code, lines[0] if lines else ""


def convert_cli(name: str, root: Path, out: Path, capsys) -> tuple[int, str]:
    return run(vqa_main, ["--benchmark", name, "--input", str(root), "--output_dir", str(out)], capsys)


# --- deep nesting --------------------------------------------------------------------------------------------


def test_200000_deep_json_is_one_line_naming_the_file(tmp_path, capsys):
    """SLAKE's question file and a MedXpertQA JSONL line nested 200,000 deep: before, a RecursionError traceback.
    Mutation: drop the ``except RecursionError`` in ``validate.parse_document`` (SLAKE) or in the MedXpertQA
    reader -> traceback."""
    root = write_slake(tmp_path / "slake")
    (root / "train.json").write_text("[" * DEPTH + "]" * DEPTH)
    code, line = convert_cli("slake", root, tmp_path / "out", capsys)
    assert code == 2 and f"{root / 'train.json'}: nested too deeply to parse" in line
    root = write_medxpertqa(tmp_path / "mx")
    (root / "MM" / "dev.jsonl").write_text('{"options": ' + "[" * DEPTH + "]" * DEPTH + "}\n")
    code, line = convert_cli("medxpertqa_mm", root, tmp_path / "out", capsys)
    assert code == 2 and f"{root / 'MM' / 'dev.jsonl'}: line 1: nested too deeply" in line
    assert no_outputs(tmp_path / "out")


# --- encodings -----------------------------------------------------------------------------------------------


def test_latin1_pmc_csv_names_the_file_and_the_byte_offset(tmp_path, capsys):
    """A latin-1 PMC-VQA CSV (an "é" past the first read chunk): one line with the file and the whole-file
    offset of the first bad byte, computed here with ``bytes.index``. Before: UnicodeDecodeError traceback.
    Mutation: report the decoder's own ``err.start`` (chunk-relative) -> a wrong offset."""
    root = write_pmc_vqa(tmp_path / "pmc")
    question = "Which " + "very " * 60_000 + "modalité?"  # the "é" 300 KB into the file, in the first row
    rows = [pmc_row("PMC2000001_F2.jpg", question, ["CT", "MRI", "PET", "US"], "B")]
    with (root / "train.csv").open("w", newline="", encoding="latin-1") as handle:
        csv.writer(handle).writerows([PMC_HEADER, *rows])
    data = (root / "train.csv").read_bytes()
    assert len(data) > 1 << 17  # past the text reader's first chunk
    code, line = convert_cli("pmc_vqa", root, tmp_path / "out", capsys)
    assert code == 2
    offset = data.index(b"\xe9")
    expected = f"{root / 'train.csv'}: PMC-VQA CSV is not UTF-8 text (byte 0xe9 at offset {offset}); save it as UTF-8"
    assert line.endswith(expected)
    assert no_outputs(tmp_path / "out")


def test_latin1_medxpertqa_jsonl_names_the_file_and_the_byte_offset(tmp_path, capsys):
    """Before: UnicodeDecodeError traceback. Mutation: no ``except UnicodeDecodeError`` around the reader."""
    root = write_medxpertqa(tmp_path / "mx")
    path = root / "MM" / "dev.jsonl"
    record = json.loads(path.read_text().splitlines()[0])
    record["question"] = "Quel diagnostic? Fièvre."
    path.write_bytes(json.dumps(record, ensure_ascii=False).encode("latin-1") + b"\n")
    code, line = convert_cli("medxpertqa_mm", root, tmp_path / "out", capsys)
    offset = path.read_bytes().index(b"\xe8")
    assert code == 2 and f"{path}: MedXpertQA JSONL file is not UTF-8 text (byte 0xe8 at offset {offset})" in line


def test_csv_field_over_16_mb_is_one_line_naming_the_row(tmp_path, capsys):
    """Before: ``_csv.Error: field larger than field limit`` traceback. Mutation: no ``except csv.Error``."""
    root = write_pmc_vqa(tmp_path / "pmc")
    with (root / "train.csv").open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(pmc_row("PMC1064097_F1.jpg", "Q" * (17 << 20), ["a", "b", "c", "d"], "A"))
    code, line = convert_cli("pmc_vqa", root, tmp_path / "out", capsys)
    assert code == 2 and f"{root / 'train.csv'}: row 4: not a readable CSV row (field larger than field limit" in line


# --- zips ------------------------------------------------------------------------------------------------------


def _stored_slake(root: Path) -> Path:
    """SLAKE with ``imgs.zip`` stored (not deflated), so bytes of a member can be flipped in place."""
    write_slake(root, zipped=False)
    with zipfile.ZipFile(root / "imgs.zip", "w", zipfile.ZIP_STORED) as zf:
        for path in sorted((root / "imgs").rglob("*.jpg")):
            zf.write(path, path.relative_to(root).as_posix())
    for path in sorted((root / "imgs").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "imgs").rmdir()
    return root / "imgs.zip"


def test_zip_member_with_a_bad_crc_is_one_line(tmp_path, capsys):
    """A flipped byte in the first member's data: before, ``BadZipFile: Bad CRC-32`` traceback. Mutation: no
    ``except zipfile.BadZipFile`` in ``ZipReader.read``."""
    archive = _stored_slake(tmp_path / "slake")
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
    data = bytearray(archive.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 100] ^= 0xFF
    archive.write_bytes(bytes(data))
    code, line = convert_cli("slake", archive.parent, tmp_path / "out", capsys)
    assert code == 2 and f"{archive}: member '{info.filename}': corrupt (Bad CRC-32" in line
    assert "train.json: record 0" in line


def test_zip_member_with_a_password_is_one_line(tmp_path, capsys):
    """The "encrypted" flag set on a member (local header and central directory): before, ``RuntimeError: File
    ... is encrypted, password required`` traceback. Mutation: no ``except RuntimeError`` in ``ZipReader.read``."""
    archive = _stored_slake(tmp_path / "slake")
    data = bytearray(archive.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 6] |= 1  # general-purpose flag bit 0: encrypted
    data[central + 8] |= 1
    archive.write_bytes(bytes(data))
    code, line = convert_cli("slake", archive.parent, tmp_path / "out", capsys)
    assert code == 2 and "member 'imgs/xmlab1/source.jpg': is encrypted (password required)" in line


# --- prompts ---------------------------------------------------------------------------------------------------


def test_image_placeholder_in_a_question_is_one_line(tmp_path, capsys):
    """Before: the row was written with two ``<image>`` for one image and verl failed at training start with a
    traceback. Mutation: no ``check_no_placeholder`` in ``RowFactory.row`` -> exit 0."""
    root = write_slake(tmp_path / "slake")
    records = json.loads((root / "train.json").read_text())
    records[0]["question"] = "Does <image> contain liver?"
    (root / "train.json").write_text(json.dumps(records))
    code, line = convert_cli("slake", root, tmp_path / "out", capsys)
    assert code == 2 and "train.json: record 0: field 'question': contains the image placeholder" in line
    assert no_outputs(tmp_path / "out")


# --- knowledge draft --out -------------------------------------------------------------------------------------


def _draft(out: Path, capsys) -> tuple[int, str]:
    return run(knowledge.main, ["draft", "--dataset", "bloodmnist", "--out", str(out)], capsys)


def test_draft_out_at_a_folder_or_under_a_file_is_one_line(tmp_path, capsys):
    """Before: IsADirectoryError / NotADirectoryError tracebacks. A missing parent is created (as --output_dir
    is). Mutation: ``Path.write_text`` as before -> traceback."""
    code, line = _draft(tmp_path, capsys)
    assert code == 2 and line == f"verl-med: error: --out {tmp_path}: is a folder; give a file name"
    (tmp_path / "file").write_text("x")
    code, line = _draft(tmp_path / "file" / "p.txt", capsys)
    assert code == 2 and f"{tmp_path / 'file'} is a file, not a folder" in line
    code, _ = _draft(tmp_path / "new" / "p.txt", capsys)
    assert code == 0 and "bloodmnist" in (tmp_path / "new" / "p.txt").read_text()


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EROFS])
def test_draft_out_on_a_full_or_read_only_disk_is_one_line_and_no_file(tmp_path, capsys, monkeypatch, number):
    """The writer raising ENOSPC / EROFS mid-write (monkeypatched): one line, no partial file, no temporary.
    Mutation: no ``except OSError`` in ``validate.write_output_text`` -> traceback."""
    real = Path.write_text

    def failing(self, *args, **kwargs):
        real(self, "half a prompt")
        raise OSError(number, __import__("os").strerror(number), str(self))

    monkeypatch.setattr(Path, "write_text", failing)
    code, line = _draft(tmp_path / "p.txt", capsys)
    assert code == 2 and f"--out {tmp_path / 'p.txt'}: cannot write ({__import__('os').strerror(number)})" in line
    assert list(tmp_path.iterdir()) == []


def test_evaluation_report_on_a_full_disk_is_one_line_and_no_report_file(tmp_path, capsys, monkeypatch):
    """``verl-med-eval`` whose report writer hits ENOSPC after metrics.json: before, an OSError traceback and a
    half-written report folder. Mutation: no ``except OSError`` around ``write_report`` -> traceback; writing
    straight into ``--out`` -> metrics.json left behind."""
    from verl_med_plugin.evaluation import evaluate

    labels = ["basophil", "eosinophil", "neutrophil"]
    lines = [
        {"output": f"<think>.</think><answer>{labels[i % 3]}</answer>", "gts": labels[i % 3], "step": 1,
         "score": 1.0, "extra_info": {"dataset": "toyset", "task_type": "multiclass", "labels": labels,
                                      "split": "test", "index": i}}
        for i in range(4)
    ]  # fmt: skip
    gen = tmp_path / "gen.jsonl"
    gen.write_text("".join(json.dumps(x) + "\n" for x in lines))
    real = atomic.write_text_atomic

    def full_disk(path, text):
        if Path(path).name == "summary.md":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr("verl_med_plugin.evaluation.writer.write_text_atomic", full_disk)
    out = tmp_path / "report"
    try:
        code = evaluate.main([str(gen), "--out", str(out), "--bootstrap", "0"])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"verl-med: error: --out {out}: cannot write the report (No space left on device)" in err
    assert not out.exists() or list(out.iterdir()) == []


# --- YAML alias bombs ------------------------------------------------------------------------------------------

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


def bomb_card(path: Path, field: str) -> Path:
    """bloodmnist's card with ``field`` set to the 9^9-leaf "billion laughs" structure (~1.2 KB of YAML)."""
    text = (knowledge.KNOWLEDGE_DIR / "bloodmnist.yaml").read_text()
    lines, skipping = [], False
    for line in text.splitlines():  # drop the field and its indented continuation lines
        skipping = line.startswith(f"{field}:") or (skipping and line.startswith((" ", "-")))
        if not skipping:
            lines.append(line)
    path.write_text(LAUGHS + "\n" + "\n".join(lines) + f"\n{field}: *i\n")
    return path


@pytest.mark.parametrize("field", ["references", "description"])
def test_billion_laughs_card_is_refused_fast_in_a_short_line(tmp_path, capsys, field):
    """``knowledge validate`` on the card: before, exit 0 (``references``) or a 312 MB error line / MemoryError
    (``description``). Mutation: ``yaml.safe_load`` in ``validate.parse_document`` -> exit 0 or minutes."""
    card = bomb_card(tmp_path / "card.yaml", field)
    assert len(card.read_bytes()) < 4096
    start = time.perf_counter()
    code, line = run(knowledge.main, ["validate", "--card", str(card), "--dataset", "bloodmnist"], capsys)
    assert code == 2 and "alias *a refused" in line and str(card) in line and len(line) < 400
    assert time.perf_counter() - start < 10  # a guard against expansion, not a speed figure
    code, line = run(folder_main, ["--card", str(card), "--image_dir", str(tmp_path), "--output_dir",
                                   str(tmp_path / "o")], capsys)  # fmt: skip
    assert code == 2 and "alias *a refused" in line


def test_long_values_are_quoted_as_short_excerpts(tmp_path, capsys):
    """A card whose ``title`` is a 500 KB list: the error quotes an excerpt (before: the whole value). Mutation:
    ``{value!r}`` in ``knowledge._text`` -> a 500 KB line."""
    text = (knowledge.KNOWLEDGE_DIR / "bloodmnist.yaml").read_text()
    card = tmp_path / "card.yaml"
    card.write_text(text + "\ntitle: [" + ", ".join(["x" * 50] * 10_000) + "]\n")
    code, line = run(knowledge.main, ["validate", "--card", str(card), "--dataset", "bloodmnist"], capsys)
    assert code == 2 and "field 'title': expected a non-empty string" in line and len(line) < 400


# --- silent wrong data -> correct handling or a counted, reported drop ---------------------------------------------


def _slake_with(root: Path, edits: list[dict]) -> Path:
    """SLAKE unpacked, train.json's English records updated with ``edits`` (one dict per record, in order)."""
    write_slake(root, zipped=False)
    records = [r for r in json.loads((root / "train.json").read_text()) if r["q_lang"] == "en"]
    for record, edit in zip(records, edits, strict=True):
        record.update(edit)
    (root / "train.json").write_text(json.dumps(records))
    return root


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_nan_and_infinity_answers_are_dropped_and_counted(tmp_path, capsys):
    """SLAKE ``"answer": NaN`` / ``Infinity`` (JSON constants Python parses): before, stored as the open answer
    "nan", which the reward credits to a model answering "nan". Mutation: no non-finite check in ``core.require``
    -> a row with ground truth "nan" is written."""
    from data_preprocess.vqa import convert

    root = _slake_with(tmp_path / "slake", [{}, {}, {}])
    text = (root / "train.json").read_text().replace('"answer": "Liver"', '"answer": NaN', 1)
    text = text.replace('"answer": "Left Lung"', '"answer": Infinity', 1)
    (root / "train.json").write_text(text)
    out = tmp_path / "out"
    convert("slake", root, out, progress=False)
    truths = [r["reward_model"]["ground_truth"] for r in read_rows(out / "train.parquet")]
    assert truths == ["yes"]
    dropped = _manifest(out)["dropped"]["train"]
    assert dropped["field 'answer' is nan (not a value)"]["count"] == 1
    assert dropped["field 'answer' is inf (not a value)"]["count"] == 1
    err = capsys.readouterr().err
    assert "verl-med: slake train: dropped 1 record(s): field 'answer' is nan (not a value)" in err


@pytest.mark.parametrize("answer", ["—", " ".join(["word"] * 300)])
def test_open_answers_the_reward_cannot_grade_are_dropped(tmp_path, answer):
    """An open answer of "—" (no token) or over 256 tokens: every rollout would score 0. Refused by the reward
    itself (its reference answer scores acc < 1). Mutation: no ``check_gradable`` in ``RowFactory.row`` -> the
    row is written."""
    from data_preprocess.vqa import convert

    root = _slake_with(tmp_path / "slake", [{}, {}, {"answer": answer}])
    convert("slake", root, tmp_path / "out", progress=False)
    assert len(read_rows(tmp_path / "out" / "train.parquet")) == 2
    dropped = _manifest(tmp_path / "out")["dropped"]["train"]
    assert dropped["the reward cannot grade its reference answer (acc < 1)"]["count"] == 1


def test_empty_and_duplicate_options_are_dropped_with_their_reason(tmp_path):
    """PMC-VQA ``Choice C`` = "C:" (empty once the letter is stripped) and MedXpertQA options B and D with the
    same text. Mutation: no ``check_options`` -> the PMC row is written with an empty option C."""
    from data_preprocess.vqa import convert

    root = write_pmc_vqa(tmp_path / "pmc")
    rows = list(csv.reader((root / "train.csv").open(newline="", encoding="utf-8")))
    rows[1][5] = "C:"
    with (root / "train.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    convert("pmc_vqa", root, tmp_path / "out", progress=False)
    assert len(read_rows(tmp_path / "out" / "train.parquet")) == 1
    assert _manifest(tmp_path / "out")["dropped"]["train"]["option is empty"]["count"] == 1
    root = write_medxpertqa(tmp_path / "mx")
    path = root / "MM" / "test.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["options"]["D"] = records[0]["options"]["B"].upper()
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    convert("medxpertqa_mm", root, tmp_path / "out2", progress=False)
    dropped = _manifest(tmp_path / "out2")["dropped"]["test"]
    assert dropped["options have the same text"]["examples"] == [f"{path}: line 1: options B and D have the same text"]


def test_slake_english_in_any_case_is_kept_and_other_languages_are_counted(tmp_path):
    """``q_lang "EN"``: before, dropped without a word. Mutation: ``!= LANGUAGE`` without ``casefold`` -> 2 rows."""
    from data_preprocess.vqa import convert

    root = _slake_with(tmp_path / "slake", [{"q_lang": "EN"}, {"q_lang": "En"}, {}])
    records = json.loads((root / "train.json").read_text())
    records.append(dict(records[0], q_lang="zh", question="图片中包含肝脏吗?"))
    (root / "train.json").write_text(json.dumps(records, ensure_ascii=False))
    convert("slake", root, tmp_path / "out", progress=False)
    assert len(read_rows(tmp_path / "out" / "train.parquet")) == 3
    manifest = _manifest(tmp_path / "out")
    assert manifest["rows"] == {"train": 3, "val": 1, "test": 1}
    assert manifest["dropped"]["train"]["q_lang 'zh': only English questions are kept"]["count"] == 1


def test_omnimedvqa_option_f_is_kept(tmp_path):
    """A record with ``option_F`` (the correct one): before, F was dropped without a word and the record refused
    ("matches 0 of the options"). Mutation: the old ``OPTION_KEYS`` A-E -> refused."""
    from fixtures_vqa import write_omnimedvqa

    from data_preprocess.vqa import convert

    top = write_omnimedvqa(tmp_path / "omni")
    path = top / "QA_information" / "Open-access" / "ACRIMA.json"
    records = json.loads(path.read_text())
    records[0].update(option_E="drusen", option_F="macular hole", gt_answer="macular hole")
    path.write_text(json.dumps(records))
    convert("omnimedvqa", tmp_path / "omni", tmp_path / "out", progress=False, test_fraction=0.5)
    rows = [r for f in (tmp_path / "out").glob("*.parquet") for r in read_rows(f)]
    row = next(r for r in rows if r["reward_model"]["ground_truth"] == "macular hole")
    assert row["extra_info"]["options"][-2:] == ["drusen", "macular hole"]


def test_omnimedvqa_random_split_keeps_a_question_and_its_duplicates_together(tmp_path):
    """Every record repeated (same question on the same image, as in the release's overlapping subsets): before,
    the seeded split put copies in train and in test. Mutation: ``split_indices`` over items instead of image
    groups -> a question in both splits for some seed."""
    from fixtures_vqa import write_omnimedvqa

    from data_preprocess.vqa.core import ImageStore
    from data_preprocess.vqa.omnimedvqa import read_items, study_splits

    top = write_omnimedvqa(tmp_path / "omni", per_dataset=12)
    for path in (top / "QA_information" / "Open-access").glob("*.json"):
        records = json.loads(path.read_text())
        path.write_text(json.dumps(records + [dict(r, question_id=r["question_id"] + "_copy") for r in records]))
    items = read_items(top, "open", ImageStore([top, top / "Images"]))
    for seed in range(5):
        splits = study_splits(items, "random", None, None, 0.3, 0.1, seed)
        seen = {s: {(x.image_key, x.question) for x in v} for s, v in splits.items()}
        assert not seen["train"] & seen["test"] and not seen.get("val", set()) & seen["test"]
        assert sum(len(v) for v in splits.values()) == len(items)


def test_extreme_aspect_ratio_images_are_dropped_not_squashed(tmp_path):
    """A 20000x1 figure: before, stored as a 448x28 smear. Qwen-VL's processor refuses aspect ratios over 200;
    so does the converter (a counted drop). Mutation: no aspect check in ``validate.check_image_size`` -> a
    448x28 row."""
    import io

    from PIL import Image

    from data_preprocess.vqa import convert

    root = _slake_with(tmp_path / "slake", [{}, {}, {}])
    buf = io.BytesIO()
    Image.new("RGB", (20000, 1), (200, 10, 10)).save(buf, format="JPEG")
    (root / "imgs" / "xmlab2" / "source.jpg").write_bytes(buf.getvalue())
    convert("slake", root, tmp_path / "out", splits=["train"], progress=False)
    assert len(read_rows(tmp_path / "out" / "train.parquet")) == 2
    dropped = _manifest(tmp_path / "out")["dropped"]["train"]
    assert dropped["image: aspect ratio over 200 (Qwen-VL refuses it)"]["count"] == 1


def test_csv_label_that_starts_like_a_formula_is_refused(tmp_path, capsys):
    """``=BENIGN``: before, read as "benign" by the spelling equivalence. Mutation: no formula check in
    ``folder._lookup`` -> converted."""
    from PIL import Image

    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (28, 28)).save(tmp_path / "img" / name)
    card = tmp_path / "card.yaml"
    card.write_text(
        "name: t\nmodality: photo\ntask_type: binary\nquestion: Q?\nlabels: [{name: benign}, {name: malignant}]\n"
    )
    (tmp_path / "labels.csv").write_text("image,label\na.png,malignant\nb.png,=BENIGN\n")
    argv = ["--card", str(card), "--csv", str(tmp_path / "labels.csv"), "--image_root", str(tmp_path / "img")]
    code, line = run(folder_main, [*argv, "--output_dir", str(tmp_path / "out")], capsys)
    assert code == 2 and "labels.csv:3: field 'label': '=BENIGN' starts like a spreadsheet formula ('=')" in line


def test_sampler_warns_once_that_dataloader_workers_are_not_used():
    """``data.dataloader_num_workers=4`` with the sampler on: before, forced to 0 without a word. Mutation: no
    warning -> ``pytest.warns`` fails."""
    from omegaconf import OmegaConf

    from verl_med_plugin.trainer import warn_ignored_workers

    with pytest.warns(UserWarning, match=r"data\.dataloader_num_workers=4 is not used with med\.sampler\.enable"):
        assert warn_ignored_workers(OmegaConf.create({"data": {"dataloader_num_workers": 4}}))
    assert warn_ignored_workers(OmegaConf.create({"data": {"dataloader_num_workers": 0}})) is None


def test_nan_fields_in_medxpertqa_and_omnimedvqa_are_counted_drops(tmp_path):
    """The same rule in the readers that build items one record at a time (a JSONL line, an OmniMedVQA record):
    the record is dropped and counted, the others convert. Mutation: ``_item`` / ``item`` called without
    ``item_or_drop`` -> the whole run fails on the one record."""
    from fixtures_vqa import write_omnimedvqa

    from data_preprocess.vqa import convert

    root = write_medxpertqa(tmp_path / "mx")
    path = root / "MM" / "test.jsonl"
    path.write_text(path.read_text().replace('"question": "A 42', '"question": NaN, "q": "A 42', 1))
    convert("medxpertqa_mm", root, tmp_path / "out", progress=False)
    assert len(read_rows(tmp_path / "out" / "test.parquet")) == 1
    assert _manifest(tmp_path / "out")["dropped"]["test"]["field 'question' is nan (not a value)"]["count"] == 1
    top = write_omnimedvqa(tmp_path / "omni")
    path = top / "QA_information" / "Open-access" / "ACRIMA.json"
    path.write_text(path.read_text().replace('"gt_answer": "normal"', '"gt_answer": NaN', 1))
    convert("omnimedvqa", tmp_path / "omni", tmp_path / "out2", progress=False, test_fraction=0.5)
    manifest = _manifest(tmp_path / "out2")
    assert sum(manifest["rows"].values()) == 3 * 6 - 1
    assert [x["count"] for split in manifest["dropped"].values() for x in split.values()] == [1]
