"""Offline generation on a GPU host: a checkpoint answers a prepared test parquet; the JSONL feeds ``verl-med-eval``.

    python -m verl_med_plugin.generate_offline --model ckpt/global_step_100/actor/huggingface \\
        --data ~/data/verl_med/retinamnist/test.parquet --out gen/mfrs.jsonl --n 8 --temperature 1.0 \\
        [--run-config outputs/mfrs/.hydra/config.yaml] [--limit 200] [--tensor-parallel-size 1]

Prompts are built the way verl's rollout builds them, so offline and in-training numbers compare: rows go
through the run's dataset class (``data.custom_cls`` of ``--run-config``, e.g. knowledge injection; verl's
``RLHFDataset`` otherwise), then the processor's chat template with ``add_generation_prompt`` and the run's
``data.apply_chat_template_kwargs``; images come from the dataset class's multimodal extraction. Overlong
prompts are kept (an evaluation must answer every row). Each output line is one sample: verl's dump fields
(``input``, ``output``, ``gts``) plus ``prompt_id``, ``sample``, ``data_source`` and ``extra_info``, so the
evaluation needs no ``--data``. vLLM is imported only by ``generate_with_vllm``; everything else runs on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from verl_med_plugin.eval_dumps import sample_id


@dataclass
class GenerationRequest:
    """One prompt to answer, with what the evaluation needs to score the answers."""

    prompt_id: str
    prompt_text: str
    images: list[Any]
    ground_truth: str
    data_source: str
    extra_info: dict[str, Any]


def data_config(run_config: Path | None = None):
    """The run's ``data`` config (or verl's defaults for our parquet), adjusted for evaluation."""
    from omegaconf import OmegaConf

    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images"})
    if run_config is not None:
        run_data = OmegaConf.select(OmegaConf.load(run_config), "data", default=None)
        if run_data is None:
            raise ValueError(f"{run_config}: no 'data' section (expected a run's .hydra/config.yaml)")
        config = OmegaConf.create(OmegaConf.to_container(run_data, resolve=True))
    # every test row is answered, in file order
    return OmegaConf.merge(config, {"filter_overlong_prompts": False, "shuffle": False})


def run_chat_template(run_config: Path | None) -> str | None:
    """The chat template the run trained with (``custom_chat_template``, else ``med.template``); None = the model's."""
    from omegaconf import OmegaConf

    from verl_med_plugin.med_settings import chat_template_text

    if run_config is None:
        return None
    config = OmegaConf.load(run_config)
    text = OmegaConf.select(config, "actor_rollout_ref.model.custom_chat_template", default=None)
    if text:
        return str(text)
    name = OmegaConf.select(config, "med.template", default=None)
    return chat_template_text(str(name)) if name else None


def build_requests(
    data_files: Sequence[Path], tokenizer: Any, processor: Any, config: Any, limit: int = -1
) -> list[GenerationRequest]:
    """Requests for the first ``limit`` rows (all if -1), prompts rendered as verl's rollout renders them."""
    from verl_med_plugin.verl_compat import create_dataset

    dataset = create_dataset([str(p) for p in data_files], config, tokenizer, processor, is_train=False,
                             max_samples=limit)
    template_kwargs = dict(config.get("apply_chat_template_kwargs") or {})
    patch_size = getattr(getattr(processor, "image_processor", None), "patch_size", 14)
    requests = []
    for i in range(len(dataset)):
        row = dataset[i]
        messages = row["raw_prompt"]
        images, _, _ = type(dataset)._process_multi_modal_info(messages, image_patch_size=patch_size, config=config)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **template_kwargs)
        extra_info = dict(row.get("extra_info") or {})
        requests.append(GenerationRequest(
            prompt_id=sample_id(extra_info),
            prompt_text=text,
            images=list(images or []),
            ground_truth=str(row["reward_model"]["ground_truth"]),
            data_source=str(row.get("data_source", "")),
            extra_info=extra_info,
        ))
    return requests


def generate_with_vllm(
    requests: Sequence[GenerationRequest],
    model: str,
    *,
    n: int,
    temperature: float,
    top_p: float,
    max_tokens: int,
    seed: int,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
) -> list[list[str]]:
    """``n`` responses per request from vLLM (GPU only; special tokens skipped as in verl's dumps)."""
    try:
        from vllm import LLM, SamplingParams  # lazy: not installed on CPU hosts
    except ImportError as err:
        raise RuntimeError("offline generation needs vLLM (a GPU host): pip install -e '.[gpu]'") from err

    max_images = max((len(r.images) for r in requests), default=0)
    llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size, seed=seed,
              gpu_memory_utilization=gpu_memory_utilization, limit_mm_per_prompt={"image": max(max_images, 1)})
    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
    prompts = [{"prompt": r.prompt_text, **({"multi_modal_data": {"image": r.images}} if r.images else {})}
               for r in requests]
    return [[choice.text for choice in result.outputs] for result in llm.generate(prompts, params)]


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars from parquet
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def write_generations(requests: Sequence[GenerationRequest], responses: Iterable[Sequence[str]], path: Path) -> int:
    """One JSON line per response; returns the number of lines written. Written under a temporary name and
    renamed at the end, so a failed run never leaves a partial JSONL the evaluation would score as complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for request, outputs in zip(requests, responses, strict=True):
                for j, text in enumerate(outputs):
                    line = {"prompt_id": request.prompt_id, "sample": j, "input": request.prompt_text,
                            "output": text, "gts": request.ground_truth, "data_source": request.data_source,
                            "extra_info": request.extra_info}
                    handle.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
                    count += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m verl_med_plugin.generate_offline",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="HF checkpoint directory (or hub id) vLLM can load")
    parser.add_argument("--data", required=True, action="append", type=Path, help="prepared test parquet(s)")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL")
    parser.add_argument("--run-config", type=Path, help="the run's .hydra/config.yaml: its data section builds prompts")
    parser.add_argument("--n", type=int, default=1, help="samples per prompt (mean@k, best@k, maj@k)")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=-1, help="first N rows only")
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.8)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from verl_med_plugin.verl_compat import load_tokenizer_and_processor

    tokenizer, processor = load_tokenizer_and_processor(args.model)
    template = run_chat_template(args.run_config)
    if template:  # prompt the checkpoint exactly as the rollout did during training
        for owner in (processor, tokenizer):
            if owner is not None:
                owner.chat_template = template
    requests = build_requests(args.data, tokenizer, processor, data_config(args.run_config), args.limit)
    responses = generate_with_vllm(
        requests, args.model, n=args.n, temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
        seed=args.seed, tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    written = write_generations(requests, responses, args.out)
    print(f"wrote {written} responses for {len(requests)} prompts to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
