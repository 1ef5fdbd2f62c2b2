"""Conversion throughput, output bytes and peak memory of this checkout against a baseline revision (default: a6e8e15,
main before images were passed through and stored once), both measured in the same run, alternating, on three
fake releases:

- ``pmc_vqa``: PMC-VQA's public layout (``train.csv`` + ``images.zip``), one 512x384 JPEG figure per question,
  stored at <= 448 px (so every figure is resized: the slow path, not the pass-through);
- ``slake``: SLAKE's layout (``train.json``/``validation.json``/``test.json`` + ``imgs.zip``), 20 questions per
  448x448 JPEG image (SLAKE asks ~22 per image), each image's questions consecutive as in SLAKE's files; stored
  at <= 448 px (so passed through); output bytes are compared with the bytes of the distinct source images;
- ``medmnist``: a fake PathMNIST-224 ``.npz`` (``bench_convert.write_fake_npz``) stored at 224 px.

The baseline is ``git archive``d into a temporary folder and imported from there (``PYTHONPATH``; a probe checks
that its ``data_preprocess`` is the one imported). Each conversion runs in its own interpreter; its peak memory is
the largest sum of the PSS of the converter and its worker processes (sampled every 20 ms; PSS counts the pages
forked workers share once), and ``ru_maxrss`` of the converter alone. The machine is shared: only the ratios of
one run count. The storage candidates (how the SLAKE rows' images are stored once) are measured on our SLAKE
output, rewritten with each parquet writer setting.

    python benchmarks/bench_convert_vqa.py                    # the reported run
    python benchmarks/bench_convert_vqa.py --n 300 --images 15 --medmnist 500 --repeats 1   # a quick look

Writes benchmarks/results/convert_vqa.json and convert_vqa.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
RESULTS = REPO / "benchmarks" / "results"
BASELINE = "a6e8e15"
MAX_SIDE = 448
CHOICES = ["Diffuse uptake pattern", "Focal uptake pattern", "No uptake pattern", "Cannot be determined"]
SLAKE_QUESTIONS = [
    ("Does the picture contain liver?", "Yes", "Organ"),
    ("Which is bigger in this image, liver or spleen?", "Liver", "Size"),
    ("Is this a T2 weighted MRI?", "No", "Modality"),
    ("Which organ is abnormal?", "Left Lung", "Abnormality"),
    ("Where is the liver?", "Left", "Position"),
]
# The conversion each side runs, in a fresh interpreter (``{tree}``: the checkout imported).
RUN = {
    "pmc_vqa": "from data_preprocess.vqa import convert; "
    "convert('pmc_vqa', SRC, OUT, max_side=448, progress=False{np})",
    "slake": "from data_preprocess.vqa import convert; convert('slake', SRC, OUT, max_side=448, progress=False{np})",
    "medmnist": (
        "from data_preprocess import medmnist as mm; "
        "mm.convert('pathmnist', OUT, npz=SRC / 'pathmnist_224.npz', image_size=224, progress=False{np})"
    ),
}
# The sides measured: the baseline (no --num_proc), ours with its default (every core), ours on one process (what
# one core gives when the other is taken, as on this shared machine).
SIDES = {"baseline": "", "ours": "", "ours_1proc": ", num_proc=1"}
IMPORTS = (
    "data_preprocess.vqa.pipeline, data_preprocess.vqa.pmc_vqa, data_preprocess.vqa.slake, data_preprocess.medmnist"
)
CHILD = """
import json, resource, sys, threading, time
from pathlib import Path
import psutil
SRC, OUT = Path(sys.argv[1]), Path(sys.argv[2])
import {imports}
me, peak, running = psutil.Process(), [0], [True]
def sample():
    while running[0]:
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_full_info().pss  # forked workers share pages: each counted once
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
{run}
seconds = time.perf_counter() - t
running[0] = False
print(json.dumps({{"seconds": seconds, "peak_tree_pss_mb": peak[0] / 2**20,
    "peak_main_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def jpeg(pixels: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_pmc_vqa(root: Path, n: int, width: int, height: int) -> Path:
    """``train.csv`` (PMC-VQA's columns, "A:" choice prefixes) and ``images.zip`` with ``images/<figure>.jpg``."""
    import numpy as np
    from bench_convert import fake_images

    root.mkdir(parents=True, exist_ok=True)
    with (root / "train.csv").open("w", newline="") as handle, zipfile.ZipFile(root / "images.zip", "w") as zf:
        writer = csv.writer(handle)
        writer.writerow(
            ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
        )
        i = 0
        for chunk in fake_images(n, max(width, height)):
            for pixels in chunk:
                figure = f"PMC{1000000 + i}_F1.jpg"
                zf.writestr(f"images/{figure}", jpeg(np.ascontiguousarray(pixels[:height, :width])))
                label = "ABCD"[i % 4]
                question = f"What is the uptake pattern in figure {i}?"
                writer.writerow(
                    [
                        figure,
                        question,
                        CHOICES[i % 4],
                        *(f"{x}:{c}" for x, c in zip("ABCD", CHOICES, strict=False)),
                        label,
                    ]
                )
                i += 1
    return root


def write_slake(root: Path, images: int, per_image: int, side: int) -> tuple[Path, int]:
    """SLAKE's layout with ``per_image`` English questions per image, consecutive; returns the root and the bytes
    of the distinct images. Validation and test ask about their own images (SLAKE splits by image)."""
    from bench_convert import fake_images

    root.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[dict]] = {"train.json": [], "validation.json": [], "test.json": []}
    unique = 0
    with zipfile.ZipFile(root / "imgs.zip", "w") as zf:
        for chunk in fake_images(images, side, seed=1):
            for pixels in chunk:
                k = len(zf.namelist())
                data = jpeg(pixels)
                unique += len(data)
                zf.writestr(f"imgs/xmlab{k}/source.jpg", data)
                split = "validation.json" if k % 10 == 1 else "test.json" if k % 10 == 2 else "train.json"
                for q in range(per_image):
                    question, answer, content = SLAKE_QUESTIONS[q % len(SLAKE_QUESTIONS)]
                    splits[split].append(
                        {
                            "img_id": k,
                            "img_name": f"xmlab{k}/source.jpg",
                            "question": f"{question} ({q})",
                            "answer": answer,
                            "q_lang": "en",
                            "location": "Abdomen",
                            "modality": "CT",
                            "answer_type": "CLOSED",
                            "content_type": content,
                            "qid": k * per_image + q,
                        }
                    )
    for name, records in splits.items():
        (root / name).write_text(json.dumps(records), encoding="utf-8")
    return root, unique


def baseline_tree(revision: str, into: Path) -> Path:
    """The baseline's files (``git archive``), and a check that a ``PYTHONPATH`` run imports them."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    probe = run_python("import data_preprocess, reward_fns; print(data_preprocess.__file__, reward_fns.__file__)", into)
    if not all(Path(p).is_relative_to(into) for p in probe.split()):
        raise SystemExit(f"the baseline run would import {probe}, not {into}: stopping")
    return into


def run_python(code: str, tree: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{tree}: failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def measure(layout: str, tree: Path, src: Path, out: Path, side: str = "ours") -> dict[str, Any]:
    """One conversion of ``layout`` by the checkout ``tree`` (``SIDES[side]``'s options): seconds, peak memory,
    rows, bytes, output digest."""
    import pyarrow.parquet as pq

    run = RUN[layout].replace("{np}", SIDES[side])
    result = json.loads(run_python(CHILD.format(imports=IMPORTS, run=run), tree, str(src), str(out)))
    files = sorted(out.glob("*.parquet"))
    result["rows"] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    result["output_bytes"] = sum(f.stat().st_size for f in files)
    result["rows_per_s"] = result["rows"] / result["seconds"]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    result["sha256"] = digest.hexdigest()[:16]
    return result


def ratios(base: list[dict], ours: list[dict]) -> dict[str, float]:
    """Ours / baseline, per repeat (same position in the alternation), then their median."""
    import statistics

    def median(key: str) -> float:
        return round(statistics.median(o[key] / b[key] for o, b in zip(ours, base, strict=True)), 3)

    return {
        "throughput": median("rows_per_s"),
        "output_bytes": median("output_bytes"),
        "peak_tree_pss": median("peak_tree_pss_mb"),
    }


def storage_candidates(path: Path, work: Path) -> dict[str, dict[str, float]]:
    """The train file of a SLAKE-layout output rewritten with each candidate writer setting (same row groups):
    bytes, bytes over its distinct images' bytes, write seconds. The image-table candidate (rows naming a
    separate file by ``path``, ``bytes`` None) is not among them: verl's ``RLHFDataset`` opens
    ``image["bytes"]`` whenever the key is there."""
    import time

    import pyarrow.parquet as pq

    from data_preprocess.common import ROW_GROUP_ROWS, _leaf_columns

    table = pq.read_table(path)
    leaves = _leaf_columns(table.schema)
    no_images = [n for n in table.schema.names if n != "images"]
    candidates: dict[str, dict[str, Any]] = {
        "zstd, images not dictionary-encoded (a6e8e15's writer)": {"use_dictionary": no_images},
        "zstd, dictionary pages of 1 MB (pyarrow's default limit)": {"use_dictionary": True},
        "zstd, dictionary pages up to 1 GB": {"use_dictionary": True, "dictionary_pagesize_limit": 1 << 30},
        "dictionary pages up to 1 GB, image bytes uncompressed (chosen)": {
            "use_dictionary": True,
            "dictionary_pagesize_limit": 1 << 30,
            "compression": {c: "zstd" for c in leaves} | {"images.list.element.bytes": "none"},
        },
    }
    images = table.column("images").to_pylist()
    unique = sum(len(b) for b in {image["bytes"] for row in images for image in row})
    out: dict[str, dict[str, float]] = {}
    for name, options in candidates.items():
        target = work / "candidate.parquet"
        start = time.perf_counter()
        with pq.ParquetWriter(target, table.schema, **({"compression": "zstd"} | options)) as writer:
            for k in range(0, table.num_rows, ROW_GROUP_ROWS):
                writer.write_table(table.slice(k, ROW_GROUP_ROWS))
        seconds = round(time.perf_counter() - start, 3)
        out[name] = {
            "bytes": target.stat().st_size,
            "over_unique": target.stat().st_size / unique,
            "write_seconds": seconds,
        }
    return out


def rates(runs: list[dict]) -> str:
    return " / ".join(f"{x['rows_per_s']:.0f}" for x in runs)


def table(results: dict[str, Any]) -> str:
    rows = [
        "| layout | rows | baseline rows/s | ours rows/s | **throughput ratio** | ours 1-process rows/s | "
        "1-process ratio | baseline MB | ours MB | **bytes ratio** | baseline peak MB | ours peak MB | "
        "ours reruns identical |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for layout, r in results["layouts"].items():
        b, o = r["baseline"], r["ours"]
        rows.append(
            f"| {layout} | {o[0]['rows']} | {rates(b)} | {rates(o)} | **{r['ratio']['throughput']:.2f}x** | "
            f"{rates(r['ours_1proc'])} | {r['ratio_1proc']['throughput']:.2f}x | "
            f"{b[0]['output_bytes'] / 2**20:.1f} | {o[0]['output_bytes'] / 2**20:.1f} | "
            f"**{r['ratio']['output_bytes']:.3f}x** | {max(x['peak_tree_pss_mb'] for x in b):.0f} | "
            f"{max(x['peak_tree_pss_mb'] for x in o):.0f} | {r['ours_identical']} |"
        )
    return "\n".join(rows)


def main() -> None:
    from bench_convert import write_fake_npz
    from results_io import machine_info, save

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="revision to compare with (default %(default)s)")
    parser.add_argument("--n", type=int, default=1500, help="PMC-VQA-layout questions (one 512x384 figure each)")
    parser.add_argument("--images", type=int, default=100, help="SLAKE-layout images (20 questions each)")
    parser.add_argument("--medmnist", type=int, default=3000, help="PathMNIST-224 images")
    parser.add_argument("--repeats", type=int, default=2, help="alternating baseline/ours runs per layout")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    machine = machine_info()
    results: dict[str, Any] = {"baseline": args.baseline, "max_side": MAX_SIDE, "machine": machine, "layouts": {}}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        base = baseline_tree(args.baseline, tmp / "baseline_tree")
        sources = {
            "pmc_vqa": write_pmc_vqa(tmp / "PMC-VQA", args.n, 512, 384),
            "medmnist": tmp / "medmnist",
        }
        sources["slake"], unique = write_slake(tmp / "SLAKE", args.images, 20, 448)
        sources["medmnist"].mkdir()
        write_fake_npz(sources["medmnist"] / "pathmnist_224.npz", args.medmnist, 224)
        for layout, src in sources.items():
            runs: dict[str, list[dict]] = {side: [] for side in SIDES}
            for k in range(args.repeats):
                order = [("baseline", base), ("ours", REPO), ("ours_1proc", REPO)]
                for side, tree in order if k % 2 == 0 else order[::-1]:
                    out = tmp / f"{layout}_{side}_{k}"
                    runs[side].append(measure(layout, tree, src, out, side))
                    print(layout, side, k, json.dumps(runs[side][-1]), flush=True)
                    if layout == "slake" and side == "ours" and k == 0:
                        results["storage_candidates"] = storage_candidates(out / "train.parquet", tmp)
                    subprocess.run(["rm", "-rf", str(out)], check=True)
            entry: dict[str, Any] = {
                **runs,
                "ratio": ratios(runs["baseline"], runs["ours"]),
                "ratio_1proc": ratios(runs["baseline"], runs["ours_1proc"]),
                # reruns, and --num_proc 1 against every core: one digest
                "ours_identical": len({r["sha256"] for r in runs["ours"] + runs["ours_1proc"]}) == 1,
            }
            if layout == "slake":
                entry["unique_source_image_bytes"] = unique
                entry["ours_bytes_over_unique_sources"] = round(runs["ours"][0]["output_bytes"] / unique, 3)
                entry["baseline_bytes_over_unique_sources"] = round(runs["baseline"][0]["output_bytes"] / unique, 3)
            results["layouts"][layout] = entry
    results["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    slake = results["layouts"]["slake"]
    save(
        RESULTS / "convert_vqa.json",
        results,
        (
            f"# Conversion benchmark: this checkout against {args.baseline}\n\n"
            f"`python benchmarks/bench_convert_vqa.py --n {args.n} --images {args.images} --medmnist {args.medmnist} "
            f"--repeats {args.repeats}`; each conversion in its own interpreter, baseline and ours alternating; "
            f"{machine['cpus']} CPUs shared with other jobs (load average {machine['load_avg_1m']} at start, "
            f"{results['machine']['load_avg_1m_end']} at the end): only the ratios (median over the repeats) count. "
            "Ours runs with its default `--num_proc` (every core), and with `--num_proc 1` (1-process: what one "
            "core gives when the other is taken). Peak MB: the largest sum of the memory of the "
            "converter and its workers (PSS).\n\n"
            f"{table(results)}\n\n"
            f"SLAKE layout ({args.images} images x 20 questions, 448x448 JPEG): distinct source images "
            f"{slake['unique_source_image_bytes'] / 2**20:.1f} MB; output / distinct source bytes "
            f"{slake['ours_bytes_over_unique_sources']}x (baseline {slake['baseline_bytes_over_unique_sources']}x).\n\n"
            "Storage candidates (our SLAKE-layout train file rewritten; `/ unique`: over the bytes of its distinct "
            "images):\n\n"
            "| writer setting | MB | / unique | write s |\n| --- | ---: | ---: | ---: |\n"
            + "\n".join(
                f"| {name} | {c['bytes'] / 2**20:.1f} | {c['over_unique']:.3f} | {c['write_seconds']:.2f} |"
                for name, c in results["storage_candidates"].items()
            )
            + "\n"
        ),
    )


if __name__ == "__main__":
    main()
