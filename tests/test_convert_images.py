"""How converters store images (issue "Convert at the speed of the disk"): a VQA image already at its stored size
goes through as released, a resized one keeps its kind (JPEG at ``--jpeg_quality``, PNG for lossless sources),
each distinct image is fitted once and stored once per row group (parquet dictionary pages), the work runs on
``--num_proc`` processes with byte-identical output, and verl's dataset class reads the rows unchanged.

Releases are SLAKE's public layout (BoKelvin/SLAKE at commit b2eb8c5, ``fixtures_vqa.slake_record``: question
files + ``imgs/xmlab<N>/source.jpg``), images made here with Pillow; expected pixels are decoded by Pillow
directly, JPEG quality read back from the quantisation tables Pillow writes for that quality."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures_data import synthetic_images, write_fake_medmnist_npz
from fixtures_vqa import slake_record
from PIL import Image

from data_preprocess import medmnist, validate
from data_preprocess.common import JPEG_QUALITY, ConversionError
from data_preprocess.vqa import convert
from data_preprocess.vqa.core import RowFactory, VQAItem


def encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **options)
    return buf.getvalue()


def write_release(root: Path, images: dict[int, bytes], questions_per_image: int = 1) -> Path:
    """SLAKE's layout: every image asked ``questions_per_image`` English questions, consecutive (as SLAKE's files
    order them), all in train; validation and test ask about the first image."""
    for k, data in images.items():
        (root / "imgs" / f"xmlab{k}").mkdir(parents=True, exist_ok=True)
        (root / "imgs" / f"xmlab{k}" / "source.jpg").write_bytes(data)  # SLAKE names every image source.jpg
    train = [
        slake_record(k * 100 + q, k, f"Does the picture contain liver? ({q})", "Yes", "CLOSED", "Organ")
        for k in images
        for q in range(questions_per_image)
    ]
    first = [slake_record(1, next(iter(images)), "Is this a CT?", "Yes", "CLOSED", "Modality")]
    for name, records in (("train.json", train), ("validation.json", first), ("test.json", first)):
        (root / name).write_text(json.dumps(records), encoding="utf-8")
    return root


def stored_images(path: Path) -> list[bytes]:
    return [image["bytes"] for row in pq.read_table(path, columns=["images"]).to_pylist() for image in row["images"]]


def quantization(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as img:
        return dict(img.quantization)


def test_image_at_its_stored_size_is_stored_as_released(tmp_path):
    """A 56x56 JPEG and a 84x56 PNG (multiples of 28, under --max_side) are stored byte for byte. Mutation tried:
    fitting every image (no pass-through branch in ``fit_encoded``) re-encodes them and fails here."""
    pixels = synthetic_images(2, size=84, seed=3)
    images = {1: encoded(pixels[0][:56, :56], "JPEG", quality=75), 2: encoded(pixels[1][:56, :84], "PNG")}
    convert("slake", write_release(tmp_path / "rel", images), tmp_path / "out", progress=False, num_proc=1)
    assert stored_images(tmp_path / "out" / "train.parquet") == [images[1], images[2]]


@pytest.mark.parametrize("quality", [JPEG_QUALITY, 40])
def test_resized_jpeg_stays_jpeg_at_the_stated_quality(tmp_path, quality):
    """A 100x60 JPEG is fitted to 112x56 and stored as JPEG with the quantisation tables of ``quality`` (the
    default, or ``--jpeg_quality``). Mutations tried: storing resized images as PNG (the old converter), and
    ignoring ``jpeg_quality`` (always 90): each fails one case."""
    source = encoded(synthetic_images(1, size=100, seed=4)[0][:60], "JPEG", quality=95)
    release = write_release(tmp_path / "rel", {1: source})
    convert("slake", release, tmp_path / "out", progress=False, num_proc=1, jpeg_quality=quality)
    (stored,) = stored_images(tmp_path / "out" / "train.parquet")
    reference = encoded(np.zeros((8, 8, 3), np.uint8), "JPEG", quality=quality)
    with Image.open(io.BytesIO(stored)) as img:
        assert (img.format, img.size) == ("JPEG", (112, 56))
    assert quantization(stored) == quantization(reference)


@pytest.mark.parametrize(("width", "height", "stored"), [(100, 60, (112, 56)), (2000, 1200, (448, 280))])
def test_resized_lossless_source_stays_lossless(tmp_path, width, height, stored):
    """A PNG fitted to its stored size is stored as PNG holding exactly OpenCV's bicubic resize of the source,
    after a 2x2 block average for the 2000x1200 one (more than twice the stored size). Mutations tried: encoding
    every resized image as JPEG fails both cases; skipping the block average fails the large one."""
    import cv2

    pixels = synthetic_images(1, size=width, seed=5)[0][:height]
    release = write_release(tmp_path / "rel", {1: encoded(pixels, "PNG")})
    convert("slake", release, tmp_path / "out", progress=False, num_proc=1)
    (data,) = stored_images(tmp_path / "out" / "train.parquet")
    source = Image.fromarray(pixels)
    if width > 2 * stored[0]:
        source = source.reduce(width // (2 * stored[0]))
    expected = cv2.resize(np.asarray(source), stored, interpolation=cv2.INTER_CUBIC)
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        np.testing.assert_array_equal(np.asarray(img), expected)


def test_each_distinct_image_is_fitted_once():
    """15 questions on 3 images start 3 fits; their rows carry the same bytes per image. Mutation tried: an
    ``ImageCache`` keyed by the record (``where``) instead of the image content starts 15 and fails."""
    images = [encoded(x, "JPEG") for x in synthetic_images(3, size=100, seed=6)]
    factory = RowFactory("slake")
    rows = []
    for i in range(15):
        item = VQAItem(f"fixture: {i}", "Is this a CT?", "Yes", [lambda k=i % 3: images[k]], modality="CT")
        rows.append(factory.row(item, "train", i))
    assert factory.images.submitted == 3
    assert len({row["images"][0]["bytes"] for row in rows}) == 3


def test_shared_image_is_stored_once_per_row_group(tmp_path):
    """Two 448x448 noise PNGs (~600 KB, stored as released), six questions each: the image column holds about
    their bytes once. Mutation tried: the writer without dictionary encoding of the image bytes (the old
    ``use_dictionary`` list) stores ~12 copies (zstd only finds the copies within one 1 MB page) and fails."""
    rng = np.random.default_rng(0)
    images = {k: encoded(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8), "PNG") for k in (1, 2)}
    release = write_release(tmp_path / "rel", images, questions_per_image=6)
    convert("slake", release, tmp_path / "out", progress=False, num_proc=1)
    metadata = pq.ParquetFile(tmp_path / "out" / "train.parquet").metadata
    assert metadata.num_rows == 12
    chunks = [
        metadata.row_group(g).column(c)
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
        if metadata.row_group(g).column(c).path_in_schema == "images.list.element.bytes"
    ]
    unique = sum(len(x) for x in images.values())
    assert sum(c.total_compressed_size for c in chunks) <= 1.2 * unique
    assert all("RLE_DICTIONARY" in c.encodings for c in chunks)


def test_num_proc_output_is_byte_identical(tmp_path):
    """A release where the first image is slow to fit (1,400 px, resized) and the 20 others fast (more than the
    8 jobs two workers keep in flight): they finish out of order, yet the output is the single-process bytes and
    a rerun is identical. Mutation tried: ``parallel.in_order`` yielding the first finished job of its window
    instead of the oldest reorders the rows and fails here."""
    rng = np.random.default_rng(1)
    images = {1: encoded(rng.integers(0, 256, (1400, 1400, 3), dtype=np.uint8), "JPEG")}
    images.update({k: encoded(x, "JPEG") for k, x in enumerate(synthetic_images(20, size=56, seed=8), start=2)})
    release = write_release(tmp_path / "rel", images)
    outputs = []
    for run, num_proc in enumerate((1, 2, 2)):
        convert("slake", release, tmp_path / f"out{run}", progress=False, num_proc=num_proc)
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / f"out{run}").glob("*.parquet"))})
    assert outputs[0] == outputs[1] == outputs[2]


def test_workers_fork_with_the_heap_frozen_and_leave_the_converters_collector_as_it_was():
    """A worker's garbage collections skip the objects it shares with the converter (frozen when it forked), so
    they do not copy the converter's heap page by page; the converter's own collector is unchanged. Mutations
    tried: no ``gc.freeze()`` before the fork fails the first check, no ``gc.unfreeze()`` after it the second."""
    import gc

    from data_preprocess.parallel import Workers

    before = gc.get_freeze_count()
    with Workers(2) as workers:
        in_worker = workers.submit(gc.get_freeze_count).result()
        in_converter = gc.get_freeze_count()
    assert in_worker >= max(before, 1)
    assert in_converter == before


def test_medmnist_num_proc_output_is_byte_identical(tmp_path):
    """MedMNIST's PNG encoding on two processes in jobs of 8 images gives the single-process bytes. Mutation
    tried: pairing each job's PNGs with the next job's row indices fails here."""
    npz = write_fake_medmnist_npz(tmp_path / "breastmnist.npz", n_classes=2, channels=1, counts=(40, 10, 10))
    outputs = []
    for num_proc in (1, 2):
        out = tmp_path / f"out{num_proc}"
        medmnist.convert("breastmnist", out, npz=npz, image_size=56, chunk_rows=8, progress=False, num_proc=num_proc)
        outputs.append({p.name: p.read_bytes() for p in sorted(out.glob("*.parquet"))})
    assert outputs[0] == outputs[1]


def test_folder_num_proc_output_is_byte_identical(tmp_path):
    """The folder converter on two processes (images of varied sizes, so jobs finish out of order) gives the
    single-process bytes. Mutation tried: ``parallel.in_order`` yielding the first finished job of its window
    fails here."""
    from test_convert_folder import CARD

    from data_preprocess import folder
    from data_preprocess.knowledge import load_card

    (tmp_path / "card.yaml").write_text(CARD)
    card = load_card(tmp_path / "card.yaml")
    rng = np.random.default_rng(2)
    for name in ("none", "mild", "severe"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(8):
            side = 1200 if i == 0 else 40
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / name / f"{i}.png")
    outputs = []
    for num_proc in (1, 2):
        samples = folder.read_image_folder(tmp_path / "data", card)
        written = folder.convert(samples, card, tmp_path / f"out{num_proc}", progress=False, num_proc=num_proc)
        outputs.append({name: path.read_bytes() for name, path in written.items()})
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("quality", [0, 96, True])
def test_jpeg_quality_out_of_range_is_one_error(quality):
    """Pillow's useful range is 1-95; bool is not a quality. Mutation tried: no check lets 0 through."""
    with pytest.raises(ConversionError, match="--jpeg_quality"):
        validate.check_jpeg_quality(quality)


@pytest.fixture(scope="module")
def passed_through(tmp_path_factory):
    """A release converted with its images at their stored size (56x56 JPEG, 84x56 PNG): the output folder and the
    sources' pixels as Pillow decodes them (what the old converter's PNG copies held)."""
    root = tmp_path_factory.mktemp("pass")
    pixels = synthetic_images(2, size=84, seed=9)
    images = {1: encoded(pixels[0][:56, :56], "JPEG"), 2: encoded(pixels[1][:56, :84], "PNG")}
    convert("slake", write_release(root / "rel", images), root / "out", progress=False)
    decoded = [np.asarray(Image.open(io.BytesIO(images[k])).convert("RGB")) for k in (1, 2)]
    return root / "out", decoded


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_verl_dataset_reads_passed_through_images(passed_through, family):
    """verl's dataset class (``MedRLHFDataset`` over ``RLHFDataset``, real processor of the tiny model) reads the
    dictionary-encoded JPEG/PNG rows: the images it hands the processor are the sources' pixels, and the prompt
    gets the visual tokens of the stored sizes. Mutation tried: no pass-through branch in ``fit_encoded`` (the
    JPEG re-encoded at its own size) changes the pixels verl sees and fails both families."""
    from test_dataset_vqa import build_dataset, rollout_model

    from verl_med_plugin.dataset import render_prompt

    out, decoded = passed_through
    dataset = build_dataset(out / "train.parquet", family, "user")
    assert len(dataset) == 2
    for index, expected in enumerate(decoded):
        messages = dataset[index]["raw_prompt"]
        (image,) = [
            c["image"] for m in messages if isinstance(m["content"], list) for c in m["content"] if c["type"] == "image"
        ]
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), expected)
        rendered = render_prompt(dataset, rollout_model(family).processor, index=index, hf_model_type=family)
        height, width = expected.shape[:2]
        side = 28 if family == "qwen2_5_vl" else 32  # one visual token per 2x2 patches of 14 (Qwen2.5) or 16 px
        assert rendered.num_image_tokens == round(height / side) * round(width / side)


@pytest.mark.parametrize(
    ("mode", "width", "height", "stored"), [("RGB", 512, 384, (448, 336)), ("L", 1000, 640, (448, 280))]
)
def test_resized_jpeg_is_as_faithful_as_the_pillow_path(mode, width, height, stored):
    """``fit_encoded``'s libjpeg-turbo path (``_fit_jpeg``) against an independent Pillow computation of the same
    resize: Pillow decodes the source at its ``draft`` scale (1/2 for the 1000x640 grey one) and OpenCV's bicubic
    fits it (the reference pixels). The stored JPEG decodes to the reference with a mean error at most 10 %
    above that of Pillow's own JPEG of the reference at the same quality (the two encoders' DCT rounding
    differs by a few grey levels; both are libjpeg at quality 90). Mutations tried: decoding as BGR (channels
    swapped) fails the tinted RGB case; no reduce-on-decode (``draft_factor`` always 1: a different resample)
    fails the grey case."""
    import cv2

    from data_preprocess.common import fit_encoded

    pixels = (synthetic_images(1, size=width, seed=11)[0][:height] * [1.0, 0.6, 0.3]).astype(np.uint8)  # tinted
    data = encoded(np.asarray(Image.fromarray(pixels).convert(mode)), "JPEG", quality=95)
    stored_bytes, size = fit_encoded(data, 448)
    with Image.open(io.BytesIO(data)) as img:
        img.draft(mode, stored)
        reference = cv2.resize(np.asarray(img.convert(mode)), stored, interpolation=cv2.INTER_CUBIC).astype(int)
    pillow = np.asarray(Image.open(io.BytesIO(encoded(reference.astype(np.uint8), "JPEG", quality=JPEG_QUALITY))))
    with Image.open(io.BytesIO(stored_bytes)) as img:
        assert (img.format, img.mode, img.size, size) == ("JPEG", mode, stored, stored)
        ours = np.asarray(img)
    assert np.abs(ours - reference).mean() <= 1.1 * np.abs(pillow - reference).mean()


def test_jpeg_libjpeg_warns_about_is_judged_by_pillow_as_before(tmp_path):
    """A JPEG with bytes between its scan and its end marker (libjpeg: "extraneous bytes before marker") is read
    by Pillow; the strict libjpeg-turbo path refuses it and hands it to Pillow, so the release converts as it
    did (passed through at its size, resized when larger), and a truncated JPEG is still one error naming the
    record. Mutation tried: ``_fit_jpeg`` raising instead of returning None on a strict-decoding error refuses
    the first two and fails here."""
    from data_preprocess.common import fit_encoded

    pixels = synthetic_images(1, size=112, seed=12)[0]
    for side, data in ((56, encoded(pixels[:56, :56], "JPEG")), (112, encoded(pixels, "JPEG"))):
        warned = data[:-2] + b"\x00\x00" + data[-2:]
        Image.open(io.BytesIO(warned)).load()  # Pillow reads it
        stored, size = fit_encoded(warned, 56)
        assert size == (56, 56)
        assert (stored == warned) == (side == 56)
    release = write_release(tmp_path / "rel", {1: encoded(pixels, "JPEG")[:300]})
    with pytest.raises(ConversionError, match=r"train.json: .*image: unreadable"):
        convert("slake", release, tmp_path / "out", progress=False, num_proc=1)


def test_questions_listed_across_images_are_grouped_by_image(tmp_path):
    """40 noise PNGs asked 10 questions each, the release listing them round-robin (image 1, 2, ..., 40, 1, 2,
    ...; VQA-RAD's files follow question ids, not images): every question is kept once, each image's questions
    are consecutive rows in release order, images in the order of their first question, and the 400 rows (two
    row groups) store each image about once. Mutations tried: no grouping (the items as read) fails here;
    groups sorted by image path instead of first question (xmlab10 before xmlab2) fails the order check;
    each image's questions reversed fails it too."""
    rng = np.random.default_rng(13)
    images = {k: encoded(rng.integers(0, 256, (56, 56, 3), dtype=np.uint8), "PNG") for k in range(1, 41)}
    release = write_release(tmp_path / "rel", images)
    train = [
        slake_record(k * 100 + q, k, f"Does the picture contain liver? ({q})", "Yes", "CLOSED", "Organ")
        for q in range(10)
        for k in images
    ]
    (release / "train.json").write_text(json.dumps(train), encoding="utf-8")
    convert("slake", release, tmp_path / "out", progress=False, num_proc=1)
    table = pq.read_table(tmp_path / "out" / "train.parquet", columns=["extra_info", "images"])
    questions = [info["question"] for info in table.column("extra_info").to_pylist()]
    expected = [f"Does the picture contain liver? ({q})" for k in images for q in range(10)]
    assert questions == expected
    assert [row[0]["bytes"] for row in table.column("images").to_pylist()] == [
        images[k] for k in images for _ in range(10)
    ]
    metadata = pq.ParquetFile(tmp_path / "out" / "train.parquet").metadata
    stored = sum(
        metadata.row_group(g).column(c).total_compressed_size
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
        if metadata.row_group(g).column(c).path_in_schema == "images.list.element.bytes"
    )
    assert metadata.num_row_groups == 2
    assert stored <= 1.2 * sum(len(x) for x in images.values())


def test_grounding_num_proc_output_is_byte_identical(tmp_path):
    """The grounding converter (BUSI's layout: ``x.png`` with ``x_mask.png`` beside it) on two processes, a large
    fourth image so jobs finish out of order, gives the single-process bytes; the options reach the workers: a
    mask of two lesions gives two boxes (``per_component``), an image without lesion is left out
    (``drop_empty``). Mutations tried: ``parallel.in_order`` yielding whichever job of its window finishes first
    (``wait(FIRST_COMPLETED)``) fails the byte check; ``Preparation.per_component`` not passed on (always False)
    fails the box check."""
    from data_preprocess import grounding

    rng = np.random.default_rng(14)
    root = tmp_path / "busi" / "benign"
    root.mkdir(parents=True)
    for i in range(12):
        side = 1400 if i == 3 else 56  # the 4th job is slow: jobs after it finish first
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / f"case{i:02d}.png")
        mask = np.zeros((side, side), np.uint8)
        if i != 5:  # case5 has no lesion
            mask[side // 8 : side // 4, side // 8 : side // 4] = 255
            mask[side // 2 : 3 * side // 4, side // 2 : 3 * side // 4] = 255
        Image.fromarray(mask).save(root / f"case{i:02d}_mask.png")
    outputs, rows = [], []
    for num_proc in (1, 2):
        samples = grounding.read_mask_folder(tmp_path / "busi")
        out = tmp_path / f"out{num_proc}"
        written = grounding.convert(
            samples, out, name="busi", per_component=True, drop_empty=True, progress=False, num_proc=num_proc
        )
        outputs.append({name: path.read_bytes() for name, path in written.items()})
        rows += [row for path in written.values() for row in pq.read_table(path).to_pylist()]
    assert outputs[0] == outputs[1]
    assert len(rows) == 2 * 11
    assert all(len(json.loads(row["reward_model"]["ground_truth"])) == 2 for row in rows)


def test_grouping_of_embedded_images_is_by_content_and_bounded_in_bytes():
    """Releases that embed images in their rows (VQA-RAD, PathVQA: no image path) are grouped by image content, and
    the read-ahead stops at ``max_bytes`` of those images, so memory stays bounded: questions on images A, B, A, B
    of 100 bytes each are grouped A, A, B, B with room for all four, and stay in release order when the window
    holds 150 bytes (two questions). Mutations tried: a window that ignores ``max_bytes`` groups the second case
    and fails; grouping items without a path under one key (``image_key`` alone) keeps the first case in release
    order and fails."""
    from data_preprocess.vqa.core import grouped_by_image

    data = {"A": b"a" * 100, "B": b"b" * 100}
    items = [VQAItem(f"f: {i}", "Is it?", "Yes", [lambda k=k: data[k]]) for i, k in enumerate("ABAB")]
    assert [x.where for x in grouped_by_image(items)] == ["f: 0", "f: 2", "f: 1", "f: 3"]
    assert [x.where for x in grouped_by_image(items, max_bytes=150)] == ["f: 0", "f: 1", "f: 2", "f: 3"]
