"""Offline generation on a GPU host: a checkpoint answers a prepared test parquet; the JSONL feeds ``verl-med-eval``.

    python -m verl_med_plugin.evaluation.generate --model ckpt/global_step_100/actor/huggingface \\
        --data ~/data/verl_med/retinamnist/test.parquet --out gen/mfrs.jsonl --n 8 --temperature 1.0 \\
        [--run_config outputs/mfrs/.hydra/config.yaml] [--limit 200] [--tensor_parallel_size 1]

Prompts are built the way verl's rollout builds them, so offline and in-training numbers compare: rows go
through the run's dataset class (``data.custom_cls`` of ``--run_config``, e.g. knowledge injection; verl's
``RLHFDataset`` otherwise), then the processor's chat template with ``add_generation_prompt`` and the run's
``data.apply_chat_template_kwargs``; images come from the dataset class's multimodal extraction. Overlong
prompts are kept (an evaluation must answer every row). Each output line is one sample: verl's dump fields
(``input``, ``output``, ``gts``) plus ``prompt_id``, ``sample``, ``data_source`` and ``extra_info``, so the
evaluation needs no ``--data``. vLLM is imported only by ``generate_with_vllm``; everything else runs on CPU.

LoRA runs: verl's model merger writes the base weights to the target folder and the trained LoRA weights to its
``lora_adapter/``; loading the folder alone would evaluate the base model. The adapter (found there, or given with
``--adapter``) is merged into the base weights with peft's ``merge_and_unload`` (``merge_lora``) and the merged
model is what vLLM loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from data_preprocess.atomic import atomic_path
from verl_med_plugin.evaluation.dumps import sample_id

if TYPE_CHECKING:
    from vllm.inputs import TextPrompt


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
        # cast: to_container is annotated with every container kind; the data section converts to a dict
        config = OmegaConf.create(cast(dict[str, Any], OmegaConf.to_container(run_data, resolve=True)))
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

    dataset = create_dataset(
        [str(p) for p in data_files], config, tokenizer, processor, is_train=False, max_samples=limit
    )
    template_kwargs = dict(config.get("apply_chat_template_kwargs") or {})
    patch_size = getattr(getattr(processor, "image_processor", None), "patch_size", 14)
    requests = []
    for i in range(len(dataset)):
        row = dataset[i]
        messages = row["raw_prompt"]
        images, _, _ = type(dataset)._process_multi_modal_info(messages, image_patch_size=patch_size, config=config)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **template_kwargs)
        extra_info = dict(row.get("extra_info") or {})
        requests.append(
            GenerationRequest(
                prompt_id=sample_id(extra_info),
                prompt_text=text,
                images=list(images or []),
                ground_truth=str(row["reward_model"]["ground_truth"]),
                data_source=str(row.get("data_source", "")),
                extra_info=extra_info,
            )
        )
    return requests


# The no-image control (as lmms-eval's ``medxpertqa_mm_no_image``): every image replaced by a black one of the same
# size and mode, so the prompt keeps its tokens and only the picture's content is gone. Its answers carry
# extra_info.image_control, and verl-med-eval reports the run as the control beside the real one.
IMAGE_CONTROL = "blank"


def blank_images(requests: Sequence[GenerationRequest]) -> list[GenerationRequest]:
    """The requests with each image blanked (``IMAGE_CONTROL``) and ``extra_info.image_control`` set; the given
    requests are not modified."""
    from PIL import Image

    out = []
    for request in requests:
        blanks = [Image.new(image.mode, image.size) for image in request.images]
        info = {**request.extra_info, "image_control": IMAGE_CONTROL}
        out.append(dataclasses.replace(request, images=blanks, extra_info=info))
    return out


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
    llm = LLM(
        model=model,
        tensor_parallel_size=tensor_parallel_size,
        seed=seed,
        gpu_memory_utilization=gpu_memory_utilization,
        limit_mm_per_prompt={"image": max(max_images, 1)},
    )
    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
    prompts: list[TextPrompt] = [
        {"prompt": r.prompt_text, "multi_modal_data": {"image": r.images}} if r.images else {"prompt": r.prompt_text}
        for r in requests
    ]
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
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for request, outputs in zip(requests, responses, strict=True):
            for j, text in enumerate(outputs):
                line = {
                    "prompt_id": request.prompt_id,
                    "sample": j,
                    "input": request.prompt_text,
                    "output": text,
                    "gts": request.ground_truth,
                    "data_source": request.data_source,
                    "extra_info": request.extra_info,
                }
                handle.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
                count += 1
    return count


ADAPTER_DIR = "lora_adapter"  # where verl's model merger (save_lora_adapter) puts the LoRA weights
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def find_adapter(model_dir: Path, adapter: Path | None = None) -> Path | None:
    """The LoRA adapter to evaluate: ``adapter`` if given, else ``<model_dir>/lora_adapter`` when it holds an
    ``adapter_config.json`` (verl's merger output of a LoRA run); None for a full-weight model."""
    if adapter is not None:
        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ValueError(f"--adapter {adapter}: no adapter_config.json (expected a peft LoRA adapter folder)")
        return Path(adapter)
    candidate = Path(model_dir) / ADAPTER_DIR
    return candidate if (candidate / "adapter_config.json").is_file() else None


def _auto_model_class(config: Any) -> Any:
    import transformers

    architectures = getattr(config, "architectures", None) or []
    for name in architectures:  # the checkpoint's own class, e.g. Qwen2_5_VLForConditionalGeneration
        if hasattr(transformers, name):
            return getattr(transformers, name)
    return (
        transformers.AutoModelForImageTextToText
        if hasattr(config, "vision_config")
        else transformers.AutoModelForCausalLM
    )


def merge_lora(model_dir: Path, adapter_dir: Path, out_dir: Path, dtype: str = "auto") -> Path:
    """Base model + LoRA adapter -> one full-weight model folder vLLM loads (peft ``merge_and_unload``).

    Written under a temporary name beside ``out_dir`` and renamed at the end, so an interrupted merge never leaves
    a folder that looks complete; tokenizer, processor and chat-template files are copied from ``model_dir``.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoConfig

    model_dir, adapter_dir, out_dir = Path(model_dir), Path(adapter_dir), Path(out_dir)
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
    if not adapter_config.get("lora_alpha"):
        warnings.warn(
            f"{adapter_dir}: lora_alpha is {adapter_config.get('lora_alpha')!r}: the merged weights equal "
            "the base model's (verl writes 0 when lora_train_meta.json is missing)",
            stacklevel=2,
        )
    config = AutoConfig.from_pretrained(model_dir)
    model = _auto_model_class(config).from_pretrained(
        model_dir, dtype=getattr(torch, dtype) if dtype != "auto" else "auto"
    )
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir, directory=True) as tmp:
        merged.save_pretrained(tmp)
        for item in model_dir.iterdir():  # tokenizer, processor, chat template, generation config
            if (
                item.is_file()
                and not item.name.endswith(WEIGHT_SUFFIXES)
                and not (tmp / item.name).exists()
                and not item.name.endswith(".index.json")
            ):
                shutil.copy2(item, tmp / item.name)
        (tmp / "merged_from.json").write_text(
            json.dumps({"base": str(model_dir.resolve()), "adapter": str(adapter_dir.resolve())}, indent=2) + "\n"
        )
    return out_dir


def model_to_generate_from(model: str, adapter: Path | None, merged_dir: Path | None, scratch: Path) -> str:
    """The folder vLLM should load: the model itself, or the base merged with its LoRA adapter (in ``merged_dir``
    if given, else in ``scratch``, a temporary folder the caller removes)."""
    if not Path(model).is_dir():
        if adapter is not None:
            raise ValueError("--adapter needs --model to be a local folder with the base weights")
        return model
    found = find_adapter(Path(model), adapter)
    if found is None:
        return model
    target = merged_dir or scratch / "merged"
    print(f"LoRA adapter {found}: merging it into {model} -> {target}")
    return str(merge_lora(Path(model), found, target))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verl-med-generate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="HF checkpoint directory (or hub id) vLLM can load")
    parser.add_argument("--data", required=True, action="append", type=Path, help="prepared test parquet(s)")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL")
    parser.add_argument(
        "--adapter",
        type=Path,
        help="LoRA adapter folder to evaluate (default: the model folder's "
        "lora_adapter/, where verl's model merger writes it)",
    )
    parser.add_argument(
        "--merged_dir",
        "--merged-dir",
        type=Path,
        help="keep the base+LoRA merged model here (default: a temporary folder beside --out, removed afterwards)",
    )
    parser.add_argument(
        "--run_config", "--run-config", type=Path, help="the run's .hydra/config.yaml: its data section builds prompts"
    )
    parser.add_argument("--n", type=int, default=1, help="samples per prompt (mean@k, best@k, maj@k)")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top_p", "--top-p", type=float, default=1.0)
    parser.add_argument("--max_tokens", "--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=-1, help="first N rows only")
    parser.add_argument(
        "--no_image",
        "--no-image",
        action="store_true",
        help="the no-image control: every image blanked (same size), answers marked extra_info.image_control; "
        "evaluate it beside the real run: verl-med-eval real=A.jsonl no_image=B.jsonl",
    )
    parser.add_argument("--tensor_parallel_size", "--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--gpu_memory_utilization", "--gpu-memory-utilization", type=float, default=0.8)
    return parser


def prepare_out(out: Path) -> None:
    """Refuse an unusable ``--out`` in one line before the model loads (a folder; under a file; not writable) and
    remove the hidden temporaries a killed earlier run left beside it (``data_preprocess.validate``)."""
    from data_preprocess.common import ConversionError, UserError
    from data_preprocess.validate import prepare_output_dir, remove_stale_temp_files

    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give the JSONL file to write")
    try:
        prepare_output_dir(out.parent, "--out")
    except ConversionError as err:
        raise UserError(f"{err} (the folder of {out})") from None
    remove_stale_temp_files(out.parent, (".jsonl",))


def check_inputs(args: argparse.Namespace) -> None:
    """Every path argument checked before anything heavy loads, so a typo costs one line, not a vLLM start and a
    traceback. ``--model`` may also be a hub id (``org/name``)."""
    from data_preprocess.common import UserError

    looks_local = args.model.startswith((".", "/", "~")) or args.model.count("/") != 1
    if looks_local and not Path(args.model).expanduser().is_dir():
        raise UserError(
            f"--model {args.model}: no such checkpoint folder (give a folder with config.json, or a hub id org/name)"
        )
    for path in args.data:
        if not path.is_file():
            raise UserError(f"--data {path}: no such parquet file")
    for flag, path in (("--run_config", args.run_config), ("--adapter", args.adapter)):
        if path is not None and not path.exists():
            raise UserError(f"{flag} {path}: does not exist")
    numbers = (
        ("--n", args.n, 1),
        ("--max_tokens", args.max_tokens, 1),
        ("--tensor_parallel_size", args.tensor_parallel_size, 1),
    )
    for flag, value, low in numbers:
        if value < low:
            raise UserError(f"{flag} {value}: expected an integer >= {low}")
    if not 0 < args.gpu_memory_utilization <= 1 or not 0 < args.top_p <= 1 or args.temperature < 0:
        raise UserError("--gpu_memory_utilization and --top_p must be in (0, 1], --temperature >= 0")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; Ctrl-C / SIGTERM end it with one line and exit 130 / 143, no traceback, and no temporary
    file left (``data_preprocess.validate.run_guarded``)."""
    from data_preprocess.validate import run_guarded

    return run_guarded(_main, argv)


def _main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    prepare_out(args.out)  # a UserError ends the command in run_guarded: one "verl-med: error:" line, exit 2
    check_inputs(args)
    from data_preprocess.common import UserError
    from verl_med_plugin.verl_compat import load_tokenizer_and_processor

    try:
        tokenizer, processor = load_tokenizer_and_processor(args.model)
    except (OSError, ValueError) as err:  # not a model folder, or an unknown hub id
        raise UserError(
            f"--model {args.model}: cannot load its tokenizer/processor: {str(err).splitlines()[0]}"
        ) from None
    template = run_chat_template(args.run_config)
    if template:  # prompt the checkpoint exactly as the rollout did during training
        for owner in (processor, tokenizer):
            if owner is not None:
                owner.chat_template = template
    requests = build_requests(args.data, tokenizer, processor, data_config(args.run_config), args.limit)
    if args.no_image:
        requests = blank_images(requests)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".merge.", dir=args.out.parent) as scratch:
        model = model_to_generate_from(args.model, args.adapter, args.merged_dir, Path(scratch))
        responses = generate_with_vllm(
            requests,
            model,
            n=args.n,
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            seed=args.seed,
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
        )
    written = write_generations(requests, responses, args.out)
    print(f"wrote {written} responses for {len(requests)} prompts to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
