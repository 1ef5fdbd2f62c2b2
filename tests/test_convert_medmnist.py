"""MedMNIST converter: fixture npz files -> parquet that verl's RLHFDataset loads and the reward scores."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from convert_checks import check_rl_rows, no_outputs, read_rows
from fixtures_data import REPO
from PIL import Image

from data_preprocess import medmnist as mm
from data_preprocess.common import ConversionError
from data_preprocess.npz_stream import NpzStream


def _convert(npz: Path, out: Path, dataset: str, **kw) -> dict[str, Path]:
    return mm.convert(dataset, out, npz=npz, progress=False, **kw)


@pytest.mark.parametrize(
    "dataset, npz_name, n_classes, channels",
    [
        ("retinamnist", "retinamnist_224.npz", 5, 3),
        ("breastmnist", "breastmnist.npz", 2, 1),
        ("bloodmnist", "bloodmnist_64.npz", 8, 3),
        ("chestmnist", "chestmnist.npz", 14, 1),
    ],
)
def test_fixture_npz_loads_in_verl_and_reference_answers_score(
    fake_medmnist_dir, tmp_path, qwen_tokenizer, qwen_processor, dataset, npz_name, n_classes, channels
):
    out = tmp_path / dataset
    written = _convert(fake_medmnist_dir / npz_name, out, dataset, template="classlist")
    assert sorted(written) == ["test.parquet", "train.parquet", "val.parquet"]
    n_rows = check_rl_rows(written.values(), qwen_tokenizer, qwen_processor, tmp_path)
    assert n_rows == 20 + 6 + 8  # every fixture image, no subset asked
    rows = read_rows(out / "train.parquet")
    info = rows[0]["extra_info"]
    assert info["dataset"] == dataset and info["image_size"] == [224, 224] and len(info["labels"]) == n_classes
    assert rows[0]["data_source"] == f"verl_med/{dataset}"
    with np.load(fake_medmnist_dir / npz_name, allow_pickle=False) as src:
        labels = src["train_labels"]
        for row in rows:  # ground truth follows the npz label of the row's source index
            truth = labels[row["extra_info"]["index"]]
            if dataset == "chestmnist":
                assert json.loads(row["reward_model"]["ground_truth"]) == [
                    info["labels"][k] for k in np.flatnonzero(truth)
                ]
            else:
                assert row["reward_model"]["ground_truth"] == info["labels"][int(truth[0])]
    image = Image.open(io.BytesIO(rows[0]["images"][0]["bytes"]))
    assert image.format == "PNG" and image.size == (224, 224) and image.mode == ("L" if channels == 1 else "RGB")


def test_readable_display_names_keep_official_names_as_aliases(fake_medmnist_dir, tmp_path):
    rows = read_rows(_convert(fake_medmnist_dir / "bloodmnist_64.npz", tmp_path / "b", "bloodmnist")["val.parquet"])
    info = rows[0]["extra_info"]
    assert info["labels"][3] == "immature granulocyte"
    assert "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)" in info["label_aliases"][3]
    retina = read_rows(_convert(fake_medmnist_dir / "retinamnist.npz", tmp_path / "r", "retinamnist")["val.parquet"])
    assert retina[0]["extra_info"]["labels"] == [
        "no DR",
        "mild NPDR",
        "moderate NPDR",
        "severe NPDR",
        "proliferative DR",
    ]
    assert retina[0]["extra_info"]["task_type"] == "ordinal"
    assert [a[0] for a in retina[0]["extra_info"]["label_aliases"]] == ["0", "1", "2", "3", "4"]


def test_default_template_is_vrft_with_knowledge_only_in_extra_info(fake_medmnist_dir, tmp_path):
    row = read_rows(_convert(fake_medmnist_dir / "retinamnist.npz", tmp_path / "o", "retinamnist")["test.parquet"])[0]
    prompt, info = row["prompt"][0]["content"], row["extra_info"]
    assert info["template"] == "vrft" and "4-2-1 rule" in info["knowledge"]
    assert prompt.startswith("<image>What is the diabetic retinopathy severity grade")
    assert "<think>" in prompt and "<answer>" in prompt
    assert "4-2-1" not in prompt and "mild NPDR" not in prompt  # no knowledge, no class list
    baked = read_rows(
        _convert(
            fake_medmnist_dir / "retinamnist.npz",
            tmp_path / "k",
            "retinamnist",
            template="knowledge",
            option_style="letter",
        )["test.parquet"]
    )[0]
    assert "4-2-1 rule" in baked["prompt"][0]["content"] and "B. mild NPDR" in baked["prompt"][0]["content"]
    # The prompt is the same for every row: nothing image- or label-specific leaks into it.
    assert len({r["prompt"][0]["content"] for r in read_rows(tmp_path / "k" / "train.parquet")}) == 1


def test_balanced_few_shot_subsets_are_seeded_and_byte_identical(fake_medmnist_dir, tmp_path):
    npz = fake_medmnist_dir / "retinamnist.npz"
    sizes = {"train": 10, "val": 5, "test": -1}
    a = _convert(npz, tmp_path / "a", "retinamnist", split_sizes=sizes, seed=7)
    b = _convert(npz, tmp_path / "b", "retinamnist", split_sizes=sizes, seed=7)
    c = _convert(npz, tmp_path / "c", "retinamnist", split_sizes=sizes, seed=8)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()
    train = read_rows(a["train.parquet"])
    assert len(train) == 10 and len(read_rows(a["val.parquet"])) == 5 and len(read_rows(a["test.parquet"])) == 8
    gts = [r["reward_model"]["ground_truth"] for r in train]
    assert all(gts.count(label) == 2 for label in set(gts)) and len(set(gts)) == 5  # 2 shots per class
    assert [r["extra_info"]["index"] for r in train] != [
        r["extra_info"]["index"] for r in read_rows(c["train.parquet"])
    ]


def test_image_size_zero_keeps_native_pixels(fake_medmnist_dir, tmp_path):
    npz = fake_medmnist_dir / "breastmnist.npz"
    row = read_rows(_convert(npz, tmp_path / "n", "breastmnist", image_size=0)["train.parquet"])[0]
    with np.load(npz) as src:
        original = src["train_images"][row["extra_info"]["index"]]
    stored = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])))
    assert row["extra_info"]["image_size"] == [28, 28] and np.array_equal(stored, original)  # lossless


def test_npz_stream_matches_np_load_across_chunk_boundaries(fake_medmnist_dir):
    path = fake_medmnist_dir / "bloodmnist_64.npz"
    with NpzStream(path) as stream, np.load(path, allow_pickle=False) as ref:
        chunks = list(stream.iter_chunks("train_images", chunk_rows=7))
        assert [start for start, _ in chunks] == [0, 7, 14]
        assert np.array_equal(np.concatenate([c for _, c in chunks]), ref["train_images"])
        assert np.array_equal(stream.read("val_labels"), ref["val_labels"])


def _corrupt_copy(src: Path, dst: Path, **arrays) -> Path:
    with np.load(src, allow_pickle=False) as data:
        content = {k: data[k] for k in data.files}
    content.update(arrays)
    np.savez_compressed(dst, **{k: v for k, v in content.items() if v is not None})
    return dst


def test_bad_inputs_name_file_and_field_and_leave_no_parquet(fake_medmnist_dir, tmp_path):
    src = fake_medmnist_dir / "retinamnist.npz"
    out = tmp_path / "out"
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ConversionError, match="truncated.npz: not a readable .npz"):
        _convert(truncated, out, "retinamnist")
    bad_label = _corrupt_copy(src, tmp_path / "bad_label.npz", val_labels=np.full((6, 1), 9, np.uint8))
    with pytest.raises(ConversionError, match=r"bad_label.npz: array 'val_labels': value \[9\] at row 0 out of range"):
        _convert(bad_label, out, "retinamnist")
    missing = _corrupt_copy(src, tmp_path / "missing.npz", test_images=None)
    with pytest.raises(ConversionError, match="missing.npz: missing array 'test_images'"):
        _convert(missing, out, "retinamnist")
    wrong_shape = _corrupt_copy(src, tmp_path / "shape.npz", train_labels=np.zeros((19, 1), np.uint8))
    with pytest.raises(ConversionError, match=r"shape.npz: array 'train_labels': expected shape \(20, 1\)"):
        _convert(wrong_shape, out, "retinamnist")
    assert no_outputs(out)


def test_data_corrupted_mid_stream_leaves_no_partial_parquet(fake_medmnist_dir, tmp_path):
    """Header and labels are fine, the test images end early: train/val were already written to temp files."""
    src = fake_medmnist_dir / "retinamnist.npz"
    short = tmp_path / "short.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(short, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            zout.writestr(name, data[: len(data) - 28 * 28 * 3 * 2] if name == "test_images.npy" else data)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "train.parquet").write_bytes(b"previous good file")
    with pytest.raises(ConversionError, match="short.npz: array 'test_images': truncated"):
        _convert(short, out, "retinamnist")
    assert sorted(p.name for p in out.iterdir()) == ["train.parquet"]  # untouched, no temp files
    assert (out / "train.parquet").read_bytes() == b"previous good file"


def test_card_that_disagrees_with_medmnist_labels_is_refused(fake_medmnist_dir, tmp_path):
    card = (REPO / "data_preprocess/knowledge/retinamnist.yaml").read_text()
    swapped = tmp_path / "swapped.yaml"
    swapped.write_text(card.replace('official: "1"', 'official: "X"'))
    with pytest.raises(ConversionError, match=r"swapped.yaml: field 'labels\[1\].official'"):
        _convert(fake_medmnist_dir / "retinamnist.npz", tmp_path / "o", "retinamnist", card=swapped)


def test_download_goes_through_medmnist_with_official_file_names(fake_medmnist_dir, tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, root, filename, md5):
        calls.append((url, filename, md5))
        shutil.copy(fake_medmnist_dir / "retinamnist_224.npz", Path(root) / filename)

    monkeypatch.setattr(tv_utils, "download_url", fake_download)
    path = mm.download_npz("retinamnist", 224, tmp_path / "root")
    assert path == tmp_path / "root" / "retinamnist_224.npz" and path.is_file()
    assert calls == [(mm.INFO["retinamnist"]["url_224"], "retinamnist_224.npz", mm.INFO["retinamnist"]["MD5_224"])]
    assert mm.npz_filename("pathmnist", 28) == "pathmnist.npz"
    written = mm.convert(
        "retinamnist",
        tmp_path / "o",
        size=224,
        root=tmp_path / "root",
        progress=False,
        split_sizes={"train": 5, "val": 0, "test": 0},
    )
    assert len(read_rows(written["train.parquet"])) == 5 and read_rows(written["val.parquet"]) == []


def test_cli_reports_bad_input_without_traceback(tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not a zip")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.medmnist",
            "--dataset",
            "breastmnist",
            "--npz",
            str(bogus),
            "--output_dir",
            str(tmp_path / "o"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("verl-med: error:") and "bogus.npz" in proc.stderr


def test_memory_stays_flat_on_a_large_npz(tmp_path):
    """Peak RSS grows by far less than the image array (np.load would hold all of it)."""
    n, size = 1200, 224  # 180 MB of pixels; near-constant images keep the test fast
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, 3))
    labels = (np.arange(n) % 9).reshape(n, 1).astype(np.uint8)
    small = np.zeros((2, size, size, 3), np.uint8), np.zeros((2, 1), np.uint8)
    np.savez_compressed(
        tmp_path / "pathmnist_224.npz",
        train_images=images,
        train_labels=labels,
        val_images=small[0],
        val_labels=small[1],
        test_images=small[0],
        test_labels=small[1],
    )
    script = textwrap.dedent(f"""
        import resource
        from data_preprocess import medmnist as mm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        mm.convert("pathmnist", {str(tmp_path / "out")!r}, npz={str(tmp_path / "pathmnist_224.npz")!r},
                   chunk_rows=64, progress=False)
        print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    before_kb, after_kb = map(int, proc.stdout.split())
    growth_mb = (after_kb - before_kb) / 1024
    assert growth_mb < 90, f"peak RSS grew {growth_mb:.0f} MB for a {images.nbytes / 2**20:.0f} MB array"
    assert len(read_rows(tmp_path / "out" / "train.parquet")) == n
