"""Security of the converters against a hostile dataset release: nothing outside the folder the release was given
as ever reaches the parquet (``..`` in any benchmark's image path, forward or back slashes, symbolic links to files
or folders outside), a path outside is refused with the same message whether or not its target exists (no
existence oracle for a prober), and a zip bomb is refused before it is inflated (``data_preprocess.release_paths``).

Every test here failed before ``release_paths`` (checked by stashing it): the reproducers exited 0 with the
private file inside ``train.parquet``, or read the bomb whole."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from convert_checks import no_outputs, read_rows
from fixtures_vqa import write_medxpertqa, write_omnimedvqa, write_pmc_vqa, write_slake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from data_preprocess.common import ConversionError
from data_preprocess.release_paths import OUTSIDE, ZipLimits, using_zip_limits
from data_preprocess.vqa.__main__ import main as vqa_main
from data_preprocess.vqa.pipeline import convert

RED, GREEN = (255, 0, 0), (0, 255, 0)  # outside the release, inside it: a red pixel in a row is a leak
OMNI = {"split_by": "random", "test_fraction": 0.5}


def _deflated(name: str) -> zipfile.ZipInfo:
    """A member header for streamed writing, deflated (``ZipInfo`` defaults to stored)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def solid_png(colour: tuple[int, int, int], size: int = 28) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def private_file(tmp: Path) -> Path:
    """The file a hostile release tries to read: a valid image (it would convert), outside the release."""
    path = tmp / "outside" / "private.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(solid_png(RED))
    return path


def _edit_json(path: Path, edit) -> None:
    records = json.loads(path.read_text())
    edit(records[0])
    path.write_text(json.dumps(records))


def _set_slake(root: Path, name: str) -> Path:
    _edit_json(root / "train.json", lambda r: r.update(img_name=name))
    return root / "train.json"


def _set_pmc(root: Path, name: str) -> Path:
    path = root / "train.csv"
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    rows[1][0] = name
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _set_medxpert(root: Path, name: str) -> Path:
    path = root / "MM" / "dev.jsonl"
    record = json.loads(path.read_text().splitlines()[0])
    record["images"] = [name]
    path.write_text(json.dumps(record) + "\n")
    return path


def _set_omni(root: Path, name: str) -> Path:
    path = root / "QA_information" / "Open-access" / "ACRIMA.json"
    _edit_json(path, lambda r: r.update(image_path=name))
    return path


# benchmark -> (write the release, set record 0's image path, the release root, reader options)
RELEASES = {
    "slake": (lambda p: write_slake(p, zipped=False), _set_slake, {}),
    "pmc_vqa": (write_pmc_vqa, _set_pmc, {}),
    "medxpertqa_mm": (write_medxpertqa, _set_medxpert, {}),
    "omnimedvqa": (write_omnimedvqa, _set_omni, OMNI),
}


def climbing_path(root: Path, target: Path, slash: str) -> str:
    """``x/../<relative path from root to target>``: the issue's shape, written with ``slash``."""
    return slash.join(["x", "..", *Path(os.path.relpath(target, root)).parts])


@pytest.mark.parametrize("slash", ["/", "\\"])
@pytest.mark.parametrize("name", sorted(RELEASES))
def test_dotdot_image_path_is_refused_in_every_benchmark(tmp_path, name, slash):
    """The issue's reproducer per benchmark (SLAKE ``img_name``, PMC-VQA ``Figure_path``, MedXpertQA ``images[]``,
    OmniMedVQA ``image_path``): before, the run exited 0 with ``private.png`` in ``train.parquet``.
    Mutation: ``clean_relative`` keeping ``..`` (or ``ImageStore.loader`` joining the raw name) -> converts."""
    write, set_path, options = RELEASES[name]
    root = write(tmp_path / "release")
    hostile = climbing_path(root, private_file(tmp_path), slash)
    source = set_path(root, hostile)
    with pytest.raises(ConversionError) as err:
        convert(name, root, tmp_path / "out", progress=False, **options)
    message = str(err.value)
    assert OUTSIDE in message and str(source) in message and repr(hostile) in message
    assert "\n" not in message
    assert no_outputs(tmp_path / "out")


def test_outside_message_is_the_same_whether_or_not_the_target_exists(tmp_path):
    """No existence oracle: an outside image, an outside non-image file and a missing outside path give one
    message (before: "unreadable" for the existing system file, "not found" for the missing one, and the image
    converted). Mutation: checking ``is_file()`` before the containment test -> the messages differ."""
    root = write_slake(tmp_path / "release", zipped=False)
    private = private_file(tmp_path)
    (tmp_path / "outside" / "secret.txt").write_text("api_key=hunter2")
    messages = []
    for target in (private, tmp_path / "outside" / "secret.txt", tmp_path / "outside" / "nothing.png"):
        hostile = climbing_path(root, target, "/")
        _set_slake(root, hostile)
        with pytest.raises(ConversionError) as err:
            convert("slake", root, tmp_path / "out", progress=False)
        messages.append(str(err.value).replace(repr(hostile), "<path>"))
    assert len(set(messages)) == 1 and OUTSIDE in messages[0]


def test_absolute_paths_are_read_inside_the_release(tmp_path):
    """A leading ``/`` means "from the release root" (never the machine's root): ``/etc/passwd`` is looked up as
    ``<release>/etc/passwd`` and not found; ``/imgs/xmlab1/source.jpg`` converts. Mutation: joining the raw name
    (``Path(root) / "/etc/passwd"`` is ``/etc/passwd``) -> the system file is read."""
    root = write_slake(tmp_path / "release", zipped=False)
    _set_slake(root, "/etc/passwd")
    with pytest.raises(ConversionError, match=r"image '/etc/passwd' not found"):
        convert("slake", root, tmp_path / "out", progress=False)
    _set_slake(root, "/imgs/xmlab1/source.jpg")
    assert convert("slake", root, tmp_path / "out", progress=False)


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_symbolic_links_out_of_the_release_are_refused(tmp_path, kind):
    """A link inside the release (a file, or a folder above the image) pointing outside: before, followed and
    embedded. A link that stays inside still works. Mutation: containment tested on the unresolved path
    (``Path.absolute`` instead of ``resolve``) -> the private image is embedded."""
    root = write_slake(tmp_path / "release", zipped=False)
    private = private_file(tmp_path)
    if kind == "file":
        (root / "imgs" / "xmlab1" / "source.jpg").unlink()
        (root / "imgs" / "xmlab1" / "source.jpg").symlink_to(private)
    else:
        (root / "imgs" / "xmlab1" / "source.jpg").unlink()
        (root / "imgs" / "xmlab1").rmdir()
        (root / "imgs" / "xmlab1").symlink_to(private.parent, target_is_directory=True)
        (private.parent / "source.jpg").write_bytes(solid_png(RED))
    with pytest.raises(ConversionError, match=rf"train\.json: record 0: image path 'xmlab1/source.jpg' is {OUTSIDE}"):
        convert("slake", root, tmp_path / "out", progress=False)
    assert no_outputs(tmp_path / "out")
    # the same link pointing inside the release is fine
    inside = root / "shared"
    inside.mkdir()
    (inside / "source.jpg").write_bytes(solid_png(GREEN))
    link = root / "imgs" / "xmlab1" / ("source.jpg" if kind == "file" else "")
    link = link if kind == "file" else root / "imgs" / "xmlab1"
    link.unlink()
    link.symlink_to(inside / "source.jpg" if kind == "file" else inside, target_is_directory=kind == "folder")
    assert "train.parquet" in convert("slake", root, tmp_path / "out", progress=False)


def test_csv_and_coco_image_paths_stay_inside_the_image_root(tmp_path):
    """The folder converter's CSV cells and the grounding converter's COCO ``file_name`` go through the same rule.
    Mutation: ``image_root / cell`` as before -> the private image is a sample."""
    from data_preprocess import folder
    from data_preprocess import grounding as loc
    from data_preprocess.knowledge import load_card

    private = private_file(tmp_path)
    images = tmp_path / "release" / "images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(solid_png(GREEN))
    card = tmp_path / "release" / "card.yaml"
    card.write_text("name: t\nmodality: photo\ntask_type: multiclass\nquestion: Q?\nlabels: [{name: a}, {name: b}]\n")
    table = tmp_path / "release" / "labels.csv"
    table.write_text(f"image,label\na.png,a\n{climbing_path(images, private, '/')},b\n")
    with pytest.raises(ConversionError, match=rf"labels\.csv:3: field 'image': image path .* is {OUTSIDE}"):
        folder.read_csv(table, load_card(card), image_root=images)
    coco = {
        "images": [{"id": 1, "file_name": climbing_path(images, private, "\\"), "width": 28, "height": 28}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "lesion"}],
    }
    (tmp_path / "release" / "coco.json").write_text(json.dumps(coco))
    with pytest.raises(ConversionError, match=rf"coco\.json: images\[0\]: image path .* is {OUTSIDE}"):
        loc.read_coco(tmp_path / "release" / "coco.json", images, "train")


# --- zips ------------------------------------------------------------------------------------------------------


def _zeros_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    with zf.open(_deflated(name), "w") as handle:
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            handle.write(chunk)


def _slake_bomb(root: Path, size: int) -> Path:
    """SLAKE's ``imgs.zip`` whose first image is ``size`` bytes of zeros (deflated to ~size/1000)."""
    (root / "imgs.zip").unlink()
    with zipfile.ZipFile(root / "imgs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        _zeros_member(zf, "imgs/xmlab1/source.jpg", size)
        for i in (2, 3):
            zf.writestr(f"imgs/xmlab{i}/source.jpg", solid_png(GREEN))
    return root / "imgs.zip"


def test_zip_bomb_member_is_refused_from_its_header_before_inflating(tmp_path, capsys):
    """A member that inflates to 32 MB under a 4 MB cap: refused naming the archive and member from the header
    size (before: read whole, 2.1 GB peak on the issue's 1 GiB member). The peak-memory figure is
    benchmarks/bench_zip_bomb.py's. Mutation: no header check -> the streaming cap fires with another message;
    no cap at all -> the bomb is read and fails as an unreadable image."""
    root = write_slake(tmp_path / "release")
    archive = _slake_bomb(root, 32 << 20)
    argv = ["--benchmark", "slake", "--input", str(root), "--output_dir", str(tmp_path / "out")]
    code = _run_cli([*argv, "--zip_member_limit_mb", "4"], capsys)
    err = capsys.readouterr().err
    assert code == 2 and len([x for x in err.splitlines() if x.startswith("verl-med: error:")]) == 1
    assert "Traceback" not in err
    assert f"{archive}: member 'imgs/xmlab1/source.jpg': unpacks to {32 << 20} bytes, over the limits" in err
    assert no_outputs(tmp_path / "out")


def test_zip_header_that_understates_the_size_stops_the_read(tmp_path):
    """A lying header (the central directory says 1 KB, the member inflates to 8 MB): the stream stops at the
    declared size (CPython's ``ZipExtFile`` honours it, and ``ZipReader.read`` caps the stream as well) and the
    member is one "corrupt" error line naming it. Mutation: no ``BadZipFile`` handler in ``ZipReader.read`` ->
    a traceback."""
    root = write_slake(tmp_path / "release")
    archive = _slake_bomb(root, 8 << 20)
    data = bytearray(archive.read_bytes())
    central = data.index(b"PK\x01\x02")  # the bomb's central-directory entry: uncompressed size at +24
    assert int.from_bytes(data[central + 24 : central + 28], "little") == 8 << 20
    data[central + 24 : central + 28] = (1024).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match=r"member 'imgs/xmlab1/source\.jpg': corrupt \(Bad CRC-32"):
        convert("slake", root, tmp_path / "out", progress=False)


def test_total_uncompressed_size_is_capped_from_the_headers(tmp_path):
    """The archive's declared total over the total cap is refused at open, before any member is read.
    Mutation: no total check -> the 4 MB member passes the per-member cap and converts (an unreadable image)."""
    root = write_slake(tmp_path / "release")
    archive = _slake_bomb(root, 4 << 20)
    with using_zip_limits(ZipLimits(member_bytes=8 << 20, total_bytes=2 << 20)):
        with pytest.raises(ConversionError, match=rf"{archive.name}: members would unpack to \d+ bytes, over the"):
            convert("slake", root, tmp_path / "out", progress=False)
    with pytest.raises(ConversionError, match=r"unpacks to over 1048576 bytes|unpacks to \d+ bytes, over"):
        convert("slake", root, tmp_path / "out", progress=False, zip_limits=ZipLimits(member_bytes=1 << 20))


def _run_cli(argv: list[str], capsys) -> int:
    from data_preprocess.validate import run_guarded

    with pytest.raises(SystemExit) as stop:
        run_guarded(vqa_main, argv)
    return int(stop.value.code or 0)


# --- property: no byte outside the release root reaches the parquet ---------------------------------------------


@pytest.fixture(scope="module")
def hostile_tree():
    """A release (green images, links to outside and inside) beside an outside folder (red images)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        outside = base / "outside"
        outside.mkdir()
        for name in ("private.png", "source.jpg"):
            (outside / name).write_bytes(solid_png(RED))
        root = base / "release"
        (root / "imgs" / "xmlab1").mkdir(parents=True)
        (root / "imgs" / "xmlab1" / "source.jpg").write_bytes(solid_png(GREEN))
        (root / "imgs" / "link.png").symlink_to(outside / "private.png")
        (root / "imgs" / "dirlink").symlink_to(outside, target_is_directory=True)
        (root / "imgs" / "inlink.png").symlink_to(root / "imgs" / "xmlab1" / "source.jpg")
        yield base, root


PARTS = ["..", ".", "", "x", "imgs", "xmlab1", "source.jpg", "outside", "private.png", "link.png", "dirlink",
         "inlink.png", "release"]  # fmt: skip
_runs = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.sampled_from(PARTS), min_size=1, max_size=7),
    slashes=st.lists(st.sampled_from(["/", "\\"]), min_size=6, max_size=6),
    leading=st.sampled_from(["", "/", "\\", "./", "../"]),
)
def test_no_byte_outside_the_release_reaches_the_parquet(hostile_tree, parts, slashes, leading):
    """Over generated names (``..``, links to files and folders outside, absolute paths, mixed slashes): the
    conversion either refuses with one error line or writes rows whose every image is green, i.e. came from inside
    the release. Mutation: ``ImageStore.loader`` without ``release.resolve`` (raw join as before) -> hypothesis
    finds a name whose row is red (e.g. ``imgs/link.png``)."""
    base, root = hostile_tree
    name = (
        leading + "".join(p + s for p, s in zip(parts, slashes, strict=False))[:-1]
        if len(parts) > 1
        else leading + parts[0]
    )
    record = {"img_name": name, "question": "Is it?", "answer": "Yes", "q_lang": "en", "modality": "CT",
              "location": "", "content_type": ""}  # fmt: skip
    (root / "train.json").write_text(json.dumps([record]))
    out = base / f"out{next(_runs)}"
    try:
        written = convert("slake", root, out, splits=["train"], progress=False, max_side=0)
    except ConversionError as err:
        assert "\n" not in str(err) and str(root / "train.json") in str(err)
        assert no_outputs(out)
        return
    for row in read_rows(written["train.parquet"]):
        for image in row["images"]:
            pixels = np.asarray(Image.open(io.BytesIO(image["bytes"])).convert("RGB"))
            assert (pixels == GREEN).all(), f"{name!r} embedded a file from outside the release"
