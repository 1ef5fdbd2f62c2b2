"""``MedRLHFDataset.__getitem__`` (knowledge injection, per mode) against verl's plain ``RLHFDataset.__getitem__``.

    python benchmarks/bench_dataset.py [--rows 256] [--repeats 30]

Both datasets read the same parquet (224-px PNG rows in the project schema, baseline prompt, knowledge in
``extra_info``) with the same tokenizer/processor and config; the length filter is off (it runs once at start-up,
not per item). Each repeat times one full pass over the rows for every variant, variants interleaved so machine
load hits them alike; the figure per variant is the minimum over repeats (the least disturbed pass). Ratios compare
passes of the same run. Single process.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from results_io import machine_info, save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

GOAL_RATIO = 1.1
KNOWLEDGE = (
    "Diabetic retinopathy is graded by the ICDR scale. No DR: no lesions. Mild NPDR: microaneurysms only. "
    "Moderate NPDR: haemorrhages, hard exudates or cotton-wool spots. Severe NPDR: venous beading, "
    "intraretinal microvascular abnormalities. Proliferative DR: neovascularisation or vitreous haemorrhage."
)
LABELS = ["no DR", "mild NPDR", "moderate NPDR", "severe NPDR", "proliferative DR"]
QUESTION = "What is the diabetic retinopathy grade of this fundus photograph?"
INSTRUCTION = (
    " Output the thinking process in <think> </think> and final answer in <answer> </answer> tags. "
    "The output answer format should be as follows: <think> ... </think> <answer>grade</answer> "
    "Please strictly follow the format."
)


def write_parquet(path: Path, rows: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fixtures_data import png_bytes, synthetic_images

    from data_preprocess.schema import arrow_schema, make_extra_info, make_row

    images = synthetic_images(16, size=224, seed=0)
    table = []
    for i in range(rows):
        info = make_extra_info(
            split="train",
            index=i,
            dataset="retinamnist",
            task_type="ordinal",
            labels=LABELS,
            question=QUESTION,
            knowledge=KNOWLEDGE,
            template="vrft",
            image_size=[224, 224],
        )
        table.append(
            make_row(
                dataset="retinamnist",
                prompt_text="<image>" + QUESTION + INSTRUCTION,
                image_bytes=[png_bytes(images[i % 16])],
                ground_truth=LABELS[i % 5],
                extra_info=info,
            )
        )
    pq.write_table(pa.Table.from_pylist(table, schema=arrow_schema()), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dataset.json")
    args = parser.parse_args()

    from fixtures_model import build_tiny_qwen_vl_dir
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_med_plugin.dataset import MedRLHFDataset
    from verl_med_plugin.med_settings import KNOWLEDGE_MODES

    work = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    model = build_tiny_qwen_vl_dir(work / "model")
    tokenizer, processor = hf_tokenizer(str(model)), hf_processor(str(model))
    parquet = write_parquet(work / "train.parquet", args.rows)
    base = {
        "prompt_key": "prompt",
        "image_key": "images",
        "max_prompt_length": 1024,
        "filter_overlong_prompts": False,
        "cache_dir": str(work / "cache"),
    }
    variants = {"verl RLHFDataset": RLHFDataset(str(parquet), tokenizer, OmegaConf.create(base), processor=processor)}
    settings = [{"mode": mode} for mode in KNOWLEDGE_MODES] + [{"mode": "user", "classlist": True}]
    for knowledge in settings:
        name = "MedRLHFDataset mode=" + knowledge["mode"] + ("+classlist" if knowledge.get("classlist") else "")
        config = OmegaConf.create({**base, "med_knowledge": knowledge})
        variants[name] = MedRLHFDataset(str(parquet), tokenizer, config, processor=processor)

    best = {name: float("inf") for name in variants}
    for repeat in range(args.repeats + 1):
        for name, dataset in variants.items():
            start = time.perf_counter()
            for i in range(len(dataset)):
                dataset[i]
            if repeat > 0:  # the first pass only warms caches
                best[name] = min(best[name], time.perf_counter() - start)
    baseline = best["verl RLHFDataset"]
    result = {
        "rows": args.rows,
        "repeats": args.repeats,
        "image_px": 224,
        "us_per_item": {name: round(t / args.rows * 1e6, 1) for name, t in best.items()},
        "ratio_to_verl": {name: round(t / baseline, 3) for name, t in best.items() if name != "verl RLHFDataset"},
        "goal_ratio": GOAL_RATIO,
        "machine": machine_info(),
    }
    save(
        args.out,
        result,
        "# Dataset benchmark\n\n"
        f"`__getitem__` over {args.rows} rows (224-px PNG, project schema), best of {args.repeats} interleaved passes, "
        f"`python benchmarks/bench_dataset.py` (load average {result['machine']['load_avg_1m']} on "
        f"{result['machine']['cpus']} CPUs).\n\n| variant | us per item | ratio to verl |\n| --- | --- | --- |\n"
        + "".join(
            f"| {name} | {us} | {result['ratio_to_verl'].get(name, 1.0)} |\n"
            for name, us in result["us_per_item"].items()
        )
        + f"\nGoal: <= {GOAL_RATIO}x verl's RLHFDataset.\n",
    )


if __name__ == "__main__":
    main()
