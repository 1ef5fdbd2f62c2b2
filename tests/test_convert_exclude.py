"""``--exclude``: no test leakage between a source dataset and a MedMNIST set made from it.

BreastMNIST is BUSI resized: a fake BUSI folder whose originals include the sources of fake BreastMNIST test
images (downscaled to 28 px, squashed or centre-cropped: MedMNIST says only "resized") must lose exactly those
originals, and nothing else; every excluded image must be matched to its source one-to-one, or the run fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from convert_checks import read_rows
from PIL import Image

from data_preprocess import folder
from data_preprocess import grounding as loc
from data_preprocess import medmnist as mm
from data_preprocess.common import ConversionError
from data_preprocess.exclude import EXCLUDED_FILE, ExcludeIndex, drop_excluded
from data_preprocess.knowledge import load_card

N_ORIGINALS, LEAKED = 14, (1, 4, 7, 9, 12)  # originals whose downscaled copies are BreastMNIST test images


def ultrasound_like(seed: int, size: tuple[int, int] = (120, 90)) -> np.ndarray:
    """A grey image with a dark lesion-like ellipse, a bright layer and multiplicative speckle: images of one
    'modality' share the layout, as real scans do, so the match must not fire on layout alone."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = 110 + 50 * np.exp(-((yy - h * 0.2) ** 2) / (2 * (h * 0.08) ** 2))  # the bright skin layer
    cy, cx, ry, rx = rng.uniform(0.4, 0.7) * h, rng.uniform(0.3, 0.7) * w, rng.uniform(8, 20), rng.uniform(10, 30)
    base = base - 80 * (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1)
    speckle = rng.gamma(4.0, 0.25, (h, w))
    return np.clip(base * speckle, 0, 255).astype(np.uint8)


def write_fake_busi_and_breastmnist(root: Path, resize: str = "squash") -> tuple[Path, Path]:
    originals = [ultrasound_like(seed) for seed in range(N_ORIGINALS)]
    busi = root / "busi"
    for i, pixels in enumerate(originals):
        cls = ("benign", "malignant", "normal")[i % 3]
        (busi / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(busi / cls / f"{cls} ({i}).png")
        mask = np.zeros(pixels.shape, np.uint8)
        if cls != "normal":
            mask[30:60, 40:80] = 255
        Image.fromarray(mask).save(busi / cls / f"{cls} ({i})_mask.png")

    # MedMNIST brings each source image to the target square (here 28 px, the official BreastMNIST size): squashed
    # whole, or (resize="crop") its centre square first, as MedMNIST did for other sets.
    def small(pixels: np.ndarray) -> np.ndarray:
        image = Image.fromarray(pixels)
        if resize == "crop":
            w, h = image.size
            side = min(w, h)
            image = image.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        return np.asarray(image.resize((28, 28), Image.Resampling.BICUBIC))

    others = [small(ultrasound_like(1000 + i)) for i in range(12)]
    test = np.stack([small(originals[i]) for i in LEAKED])
    npz = root / "breastmnist.npz"
    np.savez_compressed(
        npz,
        train_images=np.stack(others[:8]),
        train_labels=np.arange(8).reshape(8, 1) % 2,
        val_images=np.stack(others[8:]),
        val_labels=np.arange(4).reshape(4, 1) % 2,
        test_images=test,
        test_labels=np.arange(len(LEAKED)).reshape(-1, 1) % 2,
    )
    return busi, npz


@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_localization_exclude_matches_every_test_image_to_its_source(tmp_path, capsys, resize):
    """Under either resize the test images' sources, and only they, are dropped, each matched one-to-one.

    Mutation checked: matching squashed copies only (``RESIZES = ("squash",)``) fails the crop case (the crop of a
    4:3 image is not its squash: 0 of 5 matched, and the run stops)."""
    busi, npz = write_fake_busi_and_breastmnist(tmp_path, resize)
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    index = ExcludeIndex([prepared["test.parquet"]])
    samples = loc.read_mask_folder(busi)
    kept = drop_excluded(samples, index, lambda s: Image.open(s.image))
    dropped = {s.image.name for s in samples} - {s.image.name for s in kept}
    expected = {f"{('benign', 'malignant', 'normal')[i % 3]} ({i}).png" for i in LEAKED}
    assert dropped == expected
    assert f"matched {len(LEAKED)}/{len(LEAKED)} images" in capsys.readouterr().out
    # one-to-one: test row r is the copy of LEAKED[r], and every match says how it was resized
    by_row = {m.target_row: Path(m.source).name for m in index.matched}
    assert by_row == {r: f"{('benign', 'malignant', 'normal')[i % 3]} ({i}).png" for r, i in enumerate(LEAKED)}
    assert {m.resize for m in index.matched} == {resize}


def test_an_unmatched_test_image_stops_the_conversion(tmp_path):
    """A BUSI folder missing the source of one test image: the conversion fails, naming the image, instead of
    dropping 4 and training on the rest (a count of dropped images could not tell).

    Mutation checked: ``require_all`` ignored (no raise) fails this test."""
    busi, npz = write_fake_busi_and_breastmnist(tmp_path)
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    missing = busi / "malignant" / "malignant (4).png"
    missing.unlink()
    (busi / "malignant" / "malignant (4)_mask.png").unlink()
    with pytest.raises(ConversionError, match=r"only 4 of 5 excluded images .* first unmatched: .*test.parquet row 1"):
        loc.convert(
            loc.read_mask_folder(busi),
            tmp_path / "busi_out",
            name="busi",
            max_side=56,
            progress=False,
            exclude=ExcludeIndex([prepared["test.parquet"]]),
        )
    assert not (tmp_path / "busi_out").exists() or not any((tmp_path / "busi_out").iterdir())


def test_the_matches_are_written_beside_the_splits(tmp_path):
    busi, npz = write_fake_busi_and_breastmnist(tmp_path, "crop")
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    index = ExcludeIndex([prepared["test.parquet"]])
    written = loc.convert(
        loc.read_mask_folder(busi), tmp_path / "out", name="busi", max_side=56, progress=False, exclude=index
    )
    record = read_rows(tmp_path / "out" / EXCLUDED_FILE)
    assert sorted(r["target_row"] for r in record) == list(range(len(LEAKED)))
    assert all(r["source"] is not None for r in record)
    assert {r["target_file"] for r in record} == {str(prepared["test.parquet"])}
    assert all(r["correlation"] >= 0.97 and r["resize"] == "crop" for r in record)
    assert sum(len(read_rows(p)) for p in written.values()) == N_ORIGINALS - len(LEAKED)

    written = loc.convert(
        loc.read_mask_folder(busi), tmp_path / "busi_out", name="busi", max_side=56, progress=False, exclude=index
    )
    assert sum(len(read_rows(p)) for p in written.values()) == N_ORIGINALS - len(LEAKED)


def test_localization_cli_exclude_reports_the_count(tmp_path, capsys):
    busi, npz = write_fake_busi_and_breastmnist(tmp_path)
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    loc.main(
        [
            "--masks",
            str(busi),
            "--name",
            "busi",
            "--output_dir",
            str(tmp_path / "out"),
            "--max_side",
            "56",
            "--exclude",
            str(prepared["test.parquet"]),
        ]
    )
    assert f"matched {len(LEAKED)}/{len(LEAKED)} images" in capsys.readouterr().out


def test_unrelated_images_are_not_dropped(tmp_path):
    """Without copies nothing matches: the threshold does not fire on shared layout and speckle statistics."""
    _, npz = write_fake_busi_and_breastmnist(tmp_path)
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    index = ExcludeIndex([prepared["test.parquet"]])
    assert not any(index.matches(Image.fromarray(ultrasound_like(seed))) for seed in range(2000, 2060))


def test_folder_converter_exclude(tmp_path):
    busi, npz = write_fake_busi_and_breastmnist(tmp_path)
    prepared = mm.convert("breastmnist", tmp_path / "breastmnist", npz=npz, size=28, progress=False)
    images = tmp_path / "classes"
    for cls, label in (("benign", "benign"), ("malignant", "malignant")):
        (images / label).mkdir(parents=True)
        for p in (busi / cls).glob("* ([0-9]*).png"):
            if "_mask" not in p.name:
                Image.open(p).save(images / label / p.name)
    card = load_card("breastmnist")
    samples = folder.read_image_folder(images, card)
    index = ExcludeIndex([prepared["test.parquet"]], require_all=False)  # the folder holds 2 of BUSI's 3 classes
    written = folder.convert(
        samples,
        card,
        tmp_path / "out",
        source=images,
        max_side=56,
        progress=False,
        exclude=index,
        val_fraction=0.3,
        test_fraction=0.3,
    )  # 5 images left: 3 + 2
    leaked_here = sum(1 for i in LEAKED if i % 3 != 2)
    assert sum(len(read_rows(p)) for p in written.values()) == len(samples) - leaked_here


def test_exclude_threshold_is_checked(tmp_path):
    with pytest.raises(ConversionError, match="exclude_threshold"):
        ExcludeIndex([], threshold=1.5)


def test_the_record_is_checked_before_training(tmp_path):
    """``config_checks.exclusion_problems``: the grounding folder of a localization row must prove its exclusion
    against the dataset's val/test splits as they are now.

    Mutation checked: returning no problems (the check skipped) fails each of the three bad cases."""
    from omegaconf import OmegaConf

    from verl_med_plugin.config_checks import exclusion_problems

    busi, npz = write_fake_busi_and_breastmnist(tmp_path)
    data = tmp_path / "data"
    prepared = mm.convert("breastmnist", data / "breastmnist", npz=npz, size=28, progress=False)
    out = data / "busi_abs_minus_breastmnist"
    exclude = [prepared["test.parquet"], prepared["val.parquet"]]
    index = ExcludeIndex(exclude, require_all=False)  # the fake val split is not made from this BUSI folder
    loc.convert(loc.read_mask_folder(busi), out, name="busi", max_side=56, progress=False, exclude=index)
    config = OmegaConf.create(
        {
            "med": {"dataset": "breastmnist", "data_dir": str(data)},
            "data": {"train_files": [str(out / "train.parquet"), str(data / "breastmnist" / "train.parquet")]},
        }
    )
    problems = exclusion_problems(config)
    assert len(problems) == 0, problems  # test split all matched, val split (unrelated images) none
    index_test_only = ExcludeIndex([prepared["test.parquet"]])
    loc.convert(loc.read_mask_folder(busi), out, name="busi", max_side=56, progress=False, exclude=index_test_only)
    assert any("lists 0 of the 4 images of" in p and "val.parquet" in p for p in exclusion_problems(config))
    (out / EXCLUDED_FILE).unlink()
    assert any(f"has no {EXCLUDED_FILE}" in p for p in exclusion_problems(config))
    # a partial match of a derived split: the other test images' sources may be in training
    (busi / "malignant" / "malignant (4).png").unlink()
    (busi / "malignant" / "malignant (4)_mask.png").unlink()
    partial = ExcludeIndex(exclude, require_all=False)
    loc.convert(loc.read_mask_folder(busi), out, name="busi", max_side=56, progress=False, exclude=partial)
    assert any("matches only 4/5 images" in p for p in exclusion_problems(config))
