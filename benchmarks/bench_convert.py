"""Conversion throughput and peak memory: ``data_preprocess.medmnist`` against the straightforward geo3k-style
converter (``np.load`` the arrays, ``datasets.Dataset.from_dict`` over PIL images, ``.map`` to verl rows,
``to_parquet``), on one fake PathMNIST-224 ``.npz``. Each side runs in its own subprocess, so each peak RSS is
its own.

    python benchmarks/bench_convert.py                 # 20,000 images (the reported run)
    python benchmarks/bench_convert.py --n 2000        # a quick look

Mind the baseline's memory: it holds every image several times over (about 16 GB at 20,000 images of 224 px).

Writes benchmarks/results/convert.json and convert.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATASET = "pathmnist"  # 9 classes, RGB
SPLIT_SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}


def fake_images(n: int, size: int, seed: int = 0, bases: int = 64):
    """Chunks of medical-like images (a bright blob on noisy background, shifted per image) without holding all."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.empty((bases, size, size, 3), np.uint8)
    for b in range(bases):
        cy, cx, r = *rng.uniform(size * 0.25, size * 0.75, 2), rng.uniform(size * 0.1, size * 0.25)
        blob = 40 + 180 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        tint = rng.uniform(0.7, 1.0, 3)
        base[b] = np.clip(blob[..., None] * tint + rng.normal(0, 12, (size, size, 3)), 0, 255)
    for start in range(0, n, 256):
        idx = np.arange(start, min(n, start + 256))
        yield np.stack(
            [np.roll(base[i % bases], ((i // bases) % size, (i // bases // size) % size), axis=(1, 0)) for i in idx]
        )  # every image distinct (for n < bases * size**2)


def write_fake_npz(path: Path, n: int, size: int) -> None:
    """A MedMNIST-layout ``.npz`` streamed member by member (never the whole array in memory)."""
    counts = {s: int(n * share) for s, share in SPLIT_SHARES.items()}
    counts["train"] += n - sum(counts.values())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for k, (split, count) in enumerate(counts.items()):
            header = {"descr": "|u1", "fortran_order": False, "shape": (count, size, size, 3)}
            with zf.open(f"{split}_images.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                for chunk in fake_images(count, size, seed=k):
                    f.write(chunk.tobytes())
            labels = (np.random.default_rng(k).integers(0, 9, count)).reshape(count, 1).astype(np.uint8)
            with zf.open(f"{split}_labels.npy", "w") as f:
                np.lib.format.write_array(f, labels)


def run_ours(npz: Path, out: Path) -> None:
    from data_preprocess import medmnist as mm

    mm.convert(DATASET, out, npz=npz, image_size=0, progress=False)


def run_baseline(npz: Path, out: Path) -> None:
    """What a converter written like verl's examples/data_preprocess/geo3k.py does."""
    import datasets
    from PIL import Image

    from data_preprocess.knowledge import load_card, task_spec
    from data_preprocess.prompts import RowBuilder

    task = task_spec(load_card(DATASET))
    prompt = RowBuilder(task).prompt_text((0, 0))
    data = np.load(npz, allow_pickle=False)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLIT_SHARES:
        images, labels = data[f"{split}_images"], data[f"{split}_labels"][:, 0]
        ds = datasets.Dataset.from_dict({"image": [Image.fromarray(x) for x in images], "label": labels.tolist()})

        def process_fn(example, idx, split=split):
            return {
                "data_source": f"verl_med/{DATASET}",
                "prompt": [{"role": "user", "content": prompt}],
                "images": [example["image"]],
                "ability": "medical_multiclass",
                "reward_model": {"style": "rule", "ground_truth": task.labels[example["label"]]},
                "extra_info": {
                    "split": split,
                    "index": idx,
                    "labels": list(task.labels),
                    "knowledge": task.knowledge,
                    "task_type": task.task_type,
                },
            }

        ds = ds.map(process_fn, with_indices=True, remove_columns=["image", "label"])
        ds.to_parquet(str(out / f"{split}.parquet"))


def main() -> None:
    from measure import compare, comparison_table

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="images in the fake npz (80/10/10 train/val/test)")
    parser.add_argument("--size", type=int, default=224, help="image side in px")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    load = os.getloadavg()[0]  # other jobs on the machine slow both sides alike, not their ratio
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        npz = tmp / f"{DATASET}_{args.size}.npz"
        t = time.perf_counter()
        write_fake_npz(npz, args.n, args.size)
        print(
            f"fake npz: {args.n} images {args.size}px, {npz.stat().st_size / 2**20:.0f} MB compressed, "
            f"{args.n * args.size * args.size * 3 / 2**20:.0f} MB of pixels ({time.perf_counter() - t:.0f} s)"
        )
        ours, baseline, speedup, memory = compare(
            "bench_convert",
            npz,
            tmp,
            rate="images_per_s",
            rows=args.n,
            imports="datasets, medmnist, data_preprocess.medmnist",
        )
    report = {
        "n_images": args.n,
        "image_size": args.size,
        "dataset_layout": f"{DATASET} (RGB)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load_average_at_start": load,
        "ours": ours,
        "baseline_geo3k_style": baseline,
        "throughput_ratio": speedup,
        "peak_rss_ratio": memory,
    }
    print(f"throughput: {ours['images_per_s']:.0f} vs {baseline['images_per_s']:.0f} images/s -> {speedup:.1f}x")
    print(f"peak RSS:   {ours['peak_rss_mb']:.0f} vs {baseline['peak_rss_mb']:.0f} MB -> {memory:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "convert.json").write_text(json.dumps(report, indent=2) + "\n")
    table = comparison_table(
        ours, baseline, columns=("data_preprocess.medmnist", "geo3k-style baseline"), rate="images_per_s"
    )
    (RESULTS / "convert.md").write_text(
        f"# Conversion benchmark\n\n{args.n} fake {args.size}-px RGB images in PathMNIST's npz layout, "
        f"`python benchmarks/bench_convert.py --n {args.n}`; each side in its own process; {os.cpu_count()} CPUs, "
        f"load average {load:.1f} at start.\n\n{table}\n\n"
        f"Throughput {speedup:.1f}x the baseline at {memory:.2f}x its peak memory (both include the ~"
        f"{ours['rss_after_imports_mb']:.0f} MB of imported libraries: torch via medmnist, datasets, pyarrow).\n"
    )


if __name__ == "__main__":
    main()
