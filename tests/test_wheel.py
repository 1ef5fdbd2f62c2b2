"""The wheel ships every file of the package: built with pip from this checkout and compared, file by file, with the
files git tracks under the package roots (``configs/`` ships as ``verl_med_plugin/configs/``). The tests pass on an
editable install, which would hide a file the wheel forgets; ``scripts/check_wheel.sh`` then installs the wheel
and runs the commands from it.

Mutation checked: the previous hand list in pyproject.toml (``packages = [verl_med_plugin, ...evaluation,
...configs, reward_fns, data_preprocess]`` with ``knowledge/*.yaml`` package data) fails with 21 files missing:
``data_preprocess/vqa/`` (12 modules) and ``data_preprocess/knowledge/modality/*.yaml`` (9 cards).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from fixtures_data import REPO

pytestmark = pytest.mark.slow  # builds the wheel (a pip process)

ROOTS = ("verl_med_plugin", "reward_fns", "data_preprocess")
RENAMED = {"configs": "verl_med_plugin/configs"}  # [tool.setuptools.package-dir]


def files_that_must_ship() -> set[str]:
    """Every git-tracked file under the package roots, at its path inside the wheel."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", *ROOTS, *RENAMED], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"not a git checkout ({err}): nothing to compare the wheel with")
    shipped = set()
    for path in listed:
        top, _, rest = path.partition("/")
        shipped.add(f"{RENAMED[top]}/{rest}" if top in RENAMED else path)
    return shipped


def tracked_copy(destination: Path) -> Path:
    """The checkout's tracked files (working-tree content) in a fresh folder: an in-place build would reuse a
    ``build/`` left by an earlier one, whose stale files end up in the wheel."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_wheel_holds_exactly_the_tracked_package_files(tmp_path):
    expected = files_that_must_ship()
    source = tracked_copy(tmp_path / "src")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".", "-w", str(tmp_path)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("verl_med_plugin-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    in_wheel = {n for n in names if ".dist-info/" not in n}
    assert sorted(expected - in_wheel) == []  # missing from the wheel
    assert sorted(in_wheel - expected) == []  # shipped but not a package file (tests/, scripts/, docs/)
    assert len(in_wheel) >= 121  # today's count; a shrinking wheel would also shrink git's list, but not silently
    assert "verl_med = verl_med_plugin.register" in entry_points  # verl loads the plugin from the installed wheel
    assert "verl-med-eval = verl_med_plugin.evaluation.evaluate:main" in entry_points
    assert any(Path(n).parts[:2] == ("data_preprocess", "vqa") for n in in_wheel)
