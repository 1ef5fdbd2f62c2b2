"""Peak memory of a VQA conversion on a zip bomb against a normal small conversion, same run: a SLAKE-layout release
whose ``imgs.zip`` holds one 1 GiB member of zeros (~1 MB deflated; the issue's reproducer) beside the same release
with ordinary images. Each side runs ``python -m data_preprocess.vqa`` in its own interpreter; peak RSS comes from
``resource.getrusage(RUSAGE_CHILDREN)``. The bomb must be refused (exit 2, one line) and peak within 300 MB of the
normal run's.

    python benchmarks/bench_zip_bomb.py            # 1 GiB member (the reported run)
    python benchmarks/bench_zip_bomb.py --mib 256  # a quick look

Writes benchmarks/results/zip_bomb.json and zip_bomb.md.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
RESULTS = REPO / "benchmarks" / "results"
MARGIN_MB = 300


def _deflated(name: str) -> zipfile.ZipInfo:
    """A member header for streamed writing, deflated (``ZipInfo`` defaults to stored)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_release(root: Path, bomb_mib: int) -> Path:
    """SLAKE's layout: ``train.json`` (3 questions) and ``imgs.zip``; ``bomb_mib`` > 0 makes image 1 a bomb."""
    from PIL import Image

    root.mkdir(parents=True)
    questions = [
        {
            "img_name": f"xmlab{i}/source.jpg",
            "question": f"Is organ {i} visible?",
            "answer": "Yes",
            "q_lang": "en",
            "modality": "CT",
            "location": "Abdomen",
            "content_type": "Organ",
        }  # fmt: skip
        for i in (1, 2, 3)
    ]
    (root / "train.json").write_text(json.dumps(questions))
    with zipfile.ZipFile(root / "imgs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for i in (1, 2, 3):
            name = f"imgs/xmlab{i}/source.jpg"
            if i == 1 and bomb_mib:
                with zf.open(_deflated(name), "w") as handle:
                    zeros = bytes(1 << 20)
                    for _ in range(bomb_mib):
                        handle.write(zeros)
            else:
                buf = io.BytesIO()
                Image.new("RGB", (512, 384), (40 * i, 90, 160)).save(buf, format="JPEG")
                zf.writestr(name, buf.getvalue())
    return root


def measure(src: Path, out: Path) -> dict:
    """Run the converter's command line in a child process: exit status, last stderr line, peak RSS, seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_preprocess.vqa",
            "--benchmark",
            "slake",
            "--input",
            str(src),
            "--output_dir",
            str(out),
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        raise RuntimeError("a child's peak RSS did not exceed an earlier child's: run each side in a fresh parent")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("verl-med: error:")]
    return {
        "exit": proc.returncode,
        "error": errors[-1] if errors else "",
        "error_lines": len(errors),
        "peak_rss_mb": peak / 1024,
        "seconds": seconds,
        "zip_mb": (src / "imgs.zip").stat().st_size / 2**20,
    }


def side(bomb_mib: int, work: Path) -> dict:
    """One side in a fresh interpreter, so ``RUSAGE_CHILDREN`` is that side's child alone."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import bench_zip_bomb as b\n"
        f"src = b.write_release(b.Path({str(work / 'src')!r}), {bomb_mib})\n"
        f"print(json.dumps(b.measure(src, b.Path({str(work / 'out')!r}))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024, help="uncompressed size of the bomb member")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from results_io import machine_info, save

    with tempfile.TemporaryDirectory() as tmp:
        normal = side(0, Path(tmp) / "normal")
        print("normal", json.dumps(normal))
        bomb = side(args.mib, Path(tmp) / "bomb")
        print("bomb  ", json.dumps(bomb))
    excess = bomb["peak_rss_mb"] - normal["peak_rss_mb"]
    result = {
        "machine": machine_info(),
        "bomb_mib": args.mib,
        "normal": normal,
        "bomb": bomb,
        "bomb_minus_normal_peak_mb": excess,
        "peak_ratio": bomb["peak_rss_mb"] / normal["peak_rss_mb"],
        "within_margin": excess <= MARGIN_MB and bomb["exit"] == 2 and bomb["error_lines"] == 1,
    }
    markdown = (
        f"# Zip bomb: peak memory vs a normal small conversion (same run)\n\n"
        f"| run | exit | peak RSS (MB) | seconds | imgs.zip (MB) |\n|---|---|---|---|---|\n"
        f"| normal (3 images) | {normal['exit']} | {normal['peak_rss_mb']:.0f} | {normal['seconds']:.1f} | "
        f"{normal['zip_mb']:.2f} |\n"
        f"| bomb ({args.mib} MiB member) | {bomb['exit']} | {bomb['peak_rss_mb']:.0f} | {bomb['seconds']:.1f} | "
        f"{bomb['zip_mb']:.2f} |\n\n"
        f"Bomb peak - normal peak: {excess:.0f} MB (limit {MARGIN_MB} MB); ratio {result['peak_ratio']:.2f}.\n\n"
        f"The bomb's one error line: `{bomb['error']}`\n"
    )
    save(args.out / "zip_bomb.json", result, markdown)
    print(markdown)
    if not result["within_margin"]:
        raise SystemExit(f"bomb peak {excess:.0f} MB over the normal run's (limit {MARGIN_MB}) or not refused")


if __name__ == "__main__":
    main()
