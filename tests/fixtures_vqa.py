"""Tiny medical-VQA releases in each benchmark's public layout (docs/vqa.md cites the cards): the same file names,
folders, field names and quirks (PMC-VQA's "A:" choice prefixes, MedXpertQA's appended "Answer Choices:", SLAKE's
Chinese half, OmniMedVQA's open/restricted subsets), with small synthetic images."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from fixtures_data import synthetic_images
from PIL import Image


def image_bytes(seed: int, fmt: str = "PNG", size: int = 40, channels: int = 3) -> bytes:
    """A small encoded image, distinct per seed (JPEG for the releases that ship JPEG)."""
    buf = io.BytesIO()
    Image.fromarray(synthetic_images(1, size, channels, seed=seed)[0]).save(buf, format=fmt)
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _hf_parquet(path: Path, rows: list[tuple[str, str]], seed: int) -> None:
    """A ``datasets``-written shard: ``image`` struct {bytes, path}, ``question``, ``answer``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image), ("question", pa.string()), ("answer", pa.string())])
    table = pa.Table.from_pylist(
        [
            {"image": {"bytes": image_bytes(seed + i, "JPEG"), "path": None}, "question": q, "answer": a}
            for i, (q, a) in enumerate(rows)
        ],
        schema=schema,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


RAD_ROWS = [
    ("are regions of the brain infarcted?", "yes"),
    ("is there evidence of a pneumothorax?", "no"),
    ("where is the lesion?", "right upper lobe"),
    ("what imaging modality was used?", "ct"),
]


def write_vqa_rad(root: Path) -> Path:
    """flaviagiammarino/vqa-rad: ``data/{train,test}-00000-of-00001-<hash>.parquet``."""
    _hf_parquet(root / "data" / "train-00000-of-00001-eb8844602202be60.parquet", RAD_ROWS, seed=1)
    _hf_parquet(root / "data" / "test-00000-of-00001-e5bc3d208bb4deeb.parquet", RAD_ROWS[:2], seed=11)
    return root


PATH_ROWS = [
    ("does this image show necrosis?", "yes"),
    ("what is present?", "granuloma"),
    ("is the tissue normal?", "no"),
]


def write_pathvqa(root: Path) -> Path:
    """flaviagiammarino/path-vqa: ``data/{train,validation,test}-*.parquet``."""
    for k, split in enumerate(("train", "validation", "test")):
        _hf_parquet(root / "data" / f"{split}-00000-of-00001-{k}a2b.parquet", PATH_ROWS, seed=20 + 5 * k)
    return root


def slake_record(
    qid: int,
    img: int,
    question: str,
    answer: str,
    answer_type: str,
    content_type: str,
    lang: str = "en",
    modality: str = "CT",
    location: str = "Abdomen",
) -> dict:
    return {
        "img_id": img,
        "img_name": f"xmlab{img}/source.jpg",
        "question": question,
        "answer": answer,
        "q_lang": lang,
        "location": location,
        "modality": modality,
        "answer_type": answer_type,
        "base_type": "vqa",
        "content_type": content_type,
        "triple": ["vhead", "_", "_"],
        "qid": qid,
    }


SLAKE_RENAME = "b2eb8c58556c5ceefe7b9203d3ad17ce0693d193"  # BoKelvin/SLAKE "Rename validate.json to validation.json"


def write_slake(root: Path, zipped: bool = True, val_name: str = "validation.json") -> Path:
    """BoKelvin/SLAKE as of commit b2eb8c5 (``SLAKE_RENAME``): ``{train,validation,test}.json`` and ``imgs.zip``
    (``imgs/xmlab<N>/source.jpg``: every image is named ``source.jpg``); ``val_name="validate.json"`` is the
    layout before that commit."""
    root.mkdir(parents=True, exist_ok=True)
    train = [
        slake_record(1, 1, "Does the picture contain liver?", "Yes", "CLOSED", "Organ"),
        slake_record(2, 1, "Which is bigger in this image, liver or spleen?", "Liver", "CLOSED", "Size"),
        slake_record(3, 1, "图片中包含肝脏吗?", "是", "CLOSED", "Organ", lang="zh"),
        slake_record(
            4, 2, "Which organ is abnormal?", "Left Lung", "OPEN", "Abnormality", modality="X-Ray", location="Chest"
        ),
    ]
    files = {
        "train.json": train,
        val_name: [
            slake_record(
                5, 3, "Is this a T2 weighted MRI?", "No", "CLOSED", "Modality", modality="MRI", location="Brain"
            )
        ],
        "test.json": [
            slake_record(
                6,
                2,
                "What modality is used to take this image?",
                "X-Ray",
                "OPEN",
                "Modality",
                modality="X-Ray",
                location="Chest",
            )
        ],
    }
    for name, records in files.items():
        (root / name).write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    images = {f"imgs/xmlab{i}/source.jpg": image_bytes(100 + i, "JPEG") for i in (1, 2, 3)}
    if zipped:
        _zip(root / "imgs.zip", images)
    else:
        for name, data in images.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    return root


PMC_HEADER = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]


def pmc_row(figure: str, question: str, choices: list[str], label: str) -> list[str]:
    answer = choices["ABCD".index(label)]
    return [
        figure,
        question,
        answer,
        *(f" {x}:{c}" if i % 2 else f"{x}:{c}" for i, (x, c) in enumerate(zip("ABCD", choices, strict=False))),
        label,
    ]


def write_pmc_vqa(root: Path) -> Path:
    """xmcmic/PMC-VQA: ``train.csv``/``test.csv`` and ``images.zip`` (``images/PMC..._F1.jpg``)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = {
        "train.csv": [
            pmc_row(
                "PMC1064097_F1.jpg",
                "What is the uptake pattern in the breast?",
                [
                    "Diffuse uptake pattern",
                    "Focal uptake pattern",
                    "No uptake pattern",
                    "Cannot determine from the information given",
                ],
                "B",
            ),
            pmc_row("PMC2000001_F2.jpg", "Which imaging technique was used?", ["CT", "MRI", "PET", "Ultrasound"], "D"),
        ],
        "test.csv": [
            pmc_row(
                "PMC3000002_F3.jpg",
                "Where is the mass located?",
                ["Left kidney", "Right kidney", "Liver", "Spleen"],
                "A",
            )
        ],
    }
    for name, body in rows.items():
        with (root / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(PMC_HEADER)
            writer.writerows(body)
    _zip(
        root / "images.zip",
        {
            f"images/{r[0]}": image_bytes(200 + i, "JPEG", size=900 if i == 0 else 40)
            for i, r in enumerate(rows["train.csv"] + rows["test.csv"])
        },
    )
    return root


OMNI_MODALITIES = {
    "ACRIMA": "Fundus Photography",
    "Chest CT Scan": "CT(Computed Tomography)",
    "COVID-19 Radiography": "X-Ray",
}
OMNI_TYPES = ("Disease Diagnosis", "Modality Recognition", "Anatomy Identification")


def write_omnimedvqa(root: Path, per_dataset: int = 6) -> Path:
    """foreverbeliever/OmniMedVQA (unpacked ``OmniMedVQA.zip``): ``QA_information/{Open,Restricted}-access/*.json``
    and ``Images/<dataset>/...``; restricted subsets ship without images."""
    top = root / "OmniMedVQA"
    n = 0
    for dataset, modality in OMNI_MODALITIES.items():
        records = []
        for i in range(per_dataset):
            image_path = f"Images/{dataset}/im{i:03d}.png"
            (top / image_path).parent.mkdir(parents=True, exist_ok=True)
            (top / image_path).write_bytes(image_bytes(300 + n, size=36, channels=1 if i % 2 else 3))
            options = ["normal", "glaucoma", "cataract", "drusen"][: 2 + i % 3]
            record = {
                "dataset": dataset,
                "question_id": f"{dataset}_{i:03d}",
                "question_type": OMNI_TYPES[i % 3],
                "question": f"What does image {i} show?",
                "gt_answer": options[i % len(options)],
                "image_path": image_path,
                "modality_type": modality,
            }
            record.update({f"option_{x}": text for x, text in zip("ABCD", options, strict=False)})
            records.append(record)
            n += 1
        folder = top / "QA_information" / "Open-access"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dataset}.json").write_text(json.dumps(records, indent=1))
    restricted = top / "QA_information" / "Restricted-access"
    restricted.mkdir(parents=True, exist_ok=True)
    (restricted / "AIDA.json").write_text(
        json.dumps(
            [
                {
                    "dataset": "AIDA",
                    "question_id": "AIDA_000",
                    "question_type": "Disease Diagnosis",
                    "question": "What is shown?",
                    "gt_answer": "polyp",
                    "image_path": "Images/AIDA/x.png",
                    "modality_type": "Endoscopy",
                    "option_A": "polyp",
                    "option_B": "normal",
                }
            ]
        )
    )
    return top


def medxpert_record(n: int, images: list[str], label: str = "C") -> dict:
    options = {x: f"Diagnosis {x.lower()}{n}" for x in "ABCDE"}
    choices = " ".join(f"({x}) {t}" for x, t in options.items())
    return {
        "id": f"MM-{n}",
        "question": f"A {40 + n}-year-old presents with a rash. What is the most likely "
        f"diagnosis?\nAnswer Choices: {choices}",
        "options": options,
        "label": label,
        "images": images,
        "medical_task": "Diagnosis",
        "body_system": "Integumentary",
        "question_type": "Reasoning",
    }


def write_medxpertqa(root: Path) -> Path:
    """TsinghuaC3I/MedXpertQA: ``MM/dev.jsonl``, ``MM/test.jsonl`` and ``images.zip`` (``images/MM-<n>-<k>.jpeg``)."""
    (root / "MM").mkdir(parents=True, exist_ok=True)
    dev = [medxpert_record(1, ["MM-1-a.jpeg"], "A")]
    test = [medxpert_record(2, ["MM-2-a.jpeg"], "C"), medxpert_record(3, ["MM-3-a.jpeg", "MM-3-b.jpeg"], "E")]
    for name, records in (("dev.jsonl", dev), ("test.jsonl", test)):
        (root / "MM" / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    names = [n for r in dev + test for n in r["images"]]
    # Full-size images for the two-image question: the stored sizes must keep the prompt within the length limit.
    _zip(
        root / "images.zip",
        {f"images/{n}": image_bytes(400 + i, "JPEG", size=700 if "MM-3" in n else 40) for i, n in enumerate(names)},
    )
    return root


def _drop_json_key(path: Path, index: int, key: str) -> tuple[Path, str]:
    records = json.loads(path.read_text())
    del records[index][key]
    path.write_text(json.dumps(records))
    return path, key


def drop_slake_question(src: Path) -> tuple[Path, str]:
    return _drop_json_key(src / "train.json", 0, "question")


def drop_pmc_answer_label(src: Path) -> tuple[Path, str]:
    path = src / "test.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0].replace("Answer_label", "label"), *lines[1:]]) + "\n")
    return path, "Answer_label"


def drop_medxpert_label(src: Path) -> tuple[Path, str]:
    path = src / "MM" / "test.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[-1])
    del record["label"]
    path.write_text("\n".join([*lines[:-1], json.dumps(record)]) + "\n")
    return path, "label"


def drop_omni_answer(src: Path) -> tuple[Path, str]:
    [path] = sorted((src / "QA_information" / "Open-access").glob("COVID*.json"))
    return _drop_json_key(path, 3, "gt_answer")


def drop_hf_answer(src: Path) -> tuple[Path, str]:
    """The ``answer`` column of the first test shard of a Hugging Face parquet release."""
    shards = sorted((src / "data").glob("test-*.parquet"))
    assert shards, f"{src / 'data'}: the fixture has no test-*.parquet shard"
    pq.write_table(pq.read_table(shards[0]).drop_columns(["answer"]), shards[0])
    return shards[0], "answer"


@dataclass(frozen=True)
class VQAFixture:
    """Everything the converter tests need of one benchmark, in one place: a new benchmark adds its module to
    ``data_preprocess/vqa/`` (found there, not listed) and one entry to ``FIXTURES``."""

    write: Callable[[Path], Path]  # writes the fixture release under the given folder, returns what --input takes
    expected: dict[str, list[str]]  # split -> the task types of its rows, in release order
    drop_field: Callable[[Path], tuple[Path, str]]  # removes one required field: (the file, the field)
    options: dict[str, Any] = field(default_factory=dict)  # keywords of ``convert`` the benchmark needs


OMNI_STUDY = {"split_by": "random", "test_fraction": 0.5}

FIXTURES: dict[str, VQAFixture] = {
    "vqa_rad": VQAFixture(
        write_vqa_rad,
        {"train": ["closed", "closed", "open", "open"], "test": ["closed", "closed"]},
        drop_hf_answer,
    ),
    "slake": VQAFixture(
        write_slake, {"train": ["closed", "open", "open"], "val": ["closed"], "test": ["open"]}, drop_slake_question
    ),
    "pathvqa": VQAFixture(
        write_pathvqa, {s: ["closed", "open", "closed"] for s in ("train", "val", "test")}, drop_hf_answer
    ),
    "pmc_vqa": VQAFixture(write_pmc_vqa, {"train": ["mcq", "mcq"], "test": ["mcq"]}, drop_pmc_answer_label),
    "omnimedvqa": VQAFixture(
        write_omnimedvqa, {"train": ["mcq"] * 9, "test": ["mcq"] * 9}, drop_omni_answer, OMNI_STUDY
    ),
    "medxpertqa_mm": VQAFixture(write_medxpertqa, {"val": ["mcq"], "test": ["mcq", "mcq"]}, drop_medxpert_label),
}
WRITERS = {name: fixture.write for name, fixture in FIXTURES.items()}


def vqa_fixture(name: str) -> VQAFixture:
    """The fixture of benchmark ``name``, or a failure that says where to add it."""
    assert name in FIXTURES, f"benchmark {name!r} has no test fixture: add a VQAFixture to tests/fixtures_vqa.py"
    return FIXTURES[name]
