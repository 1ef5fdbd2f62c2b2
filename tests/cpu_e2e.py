"""verl's real trainer on a CPU: the environment and overrides a run needs, and readers for what a run leaves.

Used by ``tests/test_cpu_e2e.py``, ``benchmarks/bench_learning.py`` and, through ``python tests/cpu_e2e.py
overrides``, by the example scripts (``VERL_MED_EXTRA_OVERRIDES``). The platform itself is the test bed's
(``tests/cpu_testbed``, selected by ``VERL_PLATFORM=cpu``); ``docs/cpu.md`` explains each override.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

CPU_ENV = {
    "VERL_PLATFORM": "cpu",  # the test bed's platform (tests/cpu_testbed)
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache for the vLLM CPU engine (default 4)
}

# Overrides a CPU cannot avoid (verl 0.9.1 on one CPU "device"). Each one's reason is in docs/cpu.md. The LoRA run
# of the main job's own preset (med/hardware=1gpu_lora) adds nothing else.
CPU_REQUIRED = [
    "trainer.device=cpu",
    "trainer.n_gpus_per_node=1",
    "trainer.nnodes=1",
    "+ray_kwargs.ray_init.num_gpus=1",
    "ray_kwargs.ray_init.num_cpus=8",
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.ref.strategy=fsdp2",
    "actor_rollout_ref.actor.use_torch_compile=false",
    "actor_rollout_ref.ref.use_torch_compile=false",
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    # verl's remove-padding attention for Qwen-VL is flash-attention only (docs/cpu.md, gap 9)
    "actor_rollout_ref.model.use_remove_padding=false",
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision.param_dtype=fp32",
    "+actor_rollout_ref.ref.fsdp_config.mixed_precision.param_dtype=fp32",
    "actor_rollout_ref.rollout.name=vllm",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "actor_rollout_ref.rollout.enforce_eager=true",
    "actor_rollout_ref.rollout.free_cache_engine=false",
    "+actor_rollout_ref.rollout.enable_sleep_mode=false",
    "actor_rollout_ref.rollout.max_model_len=1536",
    "+actor_rollout_ref.rollout.engine_kwargs.vllm.kv_cache_memory_bytes=67108864",
    "actor_rollout_ref.rollout.checkpoint_engine.update_weights_bucket_megabytes=256",
    "reward.num_workers=1",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    "actor_rollout_ref.rollout.agent.num_workers=1",
]

# The full fine-tuning runs' simplifications (not needed by the CPU; fewer moving parts and faster steps).
FULL_FINETUNE_CHOICES = [
    "actor_rollout_ref.model.enable_gradient_checkpointing=false",
    "actor_rollout_ref.actor.fsdp_config.param_offload=false",
    "actor_rollout_ref.actor.fsdp_config.optimizer_offload=false",
    "actor_rollout_ref.ref.fsdp_config.param_offload=false",
    "actor_rollout_ref.rollout.load_format=auto",
    "actor_rollout_ref.rollout.layered_summon=false",
]

CPU_OVERRIDES = [*CPU_REQUIRED, *FULL_FINETUNE_CHOICES]

# A run small enough for two cores: 2 prompts x 4 samples, 16-token answers.
SMALL_BATCHES = [
    "data.train_batch_size=2",
    "data.val_batch_size=8",
    "data.max_prompt_length=1024",
    "data.max_response_length=16",
    "actor_rollout_ref.rollout.n=4",
    "actor_rollout_ref.actor.ppo_mini_batch_size=2",
    "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
    "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
    "trainer.logger=[console,file]",
]
SMALL_RUN = [*SMALL_BATCHES, "actor_rollout_ref.model.lora_rank=0"]  # full fine-tuning

# Lines of a verl log worth showing when a run fails.
_RELEVANT = re.compile(r"Error|error:|Traceback|raise |assert|Exception|Killed|SIGILL|exit code", re.IGNORECASE)


def cpu_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, **CPU_ENV, **(extra or {}))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def relevant_log_lines(log: str, limit: int = 60) -> str:
    """The lines of a failed run that say why (errors and tracebacks), then the last lines."""
    lines = log.splitlines()
    hits = [line[:400] for line in lines if _RELEVANT.search(line) and "UserWarning" not in line]
    return "\n".join(hits[-limit:] + ["--- last lines ---"] + [line[:400] for line in lines[-25:]])


def run_logged(cmd: list[str], log_path: Path, *, env: dict[str, str], cwd: Path, timeout: float = 1500) -> str:
    """Run ``cmd``, keep its whole output in ``log_path``; on failure raise with the log's relevant lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = "timeout"
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if returncode != 0:
        stop_ray()
        raise AssertionError(
            f"{' '.join(cmd[:4])} ... failed ({returncode}); full log: {log_path}\n" + relevant_log_lines(text)
        )
    return text


def stop_ray() -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "ray"), "stop", "--force"], capture_output=True, timeout=120, check=False
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def metrics_by_step(file_logger: Path) -> dict[int, dict]:
    """verl's file logger (``trainer.logger=[file]``): JSON lines ``{"step": k, "data": {...}}``, merged per step
    (verl's SFT trainer logs a step's validation loss in a second line of the same step)."""
    merged: dict[int, dict] = {}
    for rec in read_jsonl(file_logger):
        merged.setdefault(int(rec["step"]), {}).update(rec["data"])
    return merged


def outcomes_by_step(outcomes_log: Path) -> dict[int, dict]:
    """``med_sampler_outcomes.jsonl`` (written by ``MedSyncTrainer``); the last record of a step wins."""
    return {int(rec["step"]): rec for rec in read_jsonl(outcomes_log)}


if __name__ == "__main__":
    if sys.argv[1:] == ["overrides"]:
        print(" ".join(CPU_OVERRIDES))
    elif sys.argv[1:] == ["env"]:
        print(" ".join(f"{k}={v}" for k, v in CPU_ENV.items()))
    else:
        sys.exit("usage: python tests/cpu_e2e.py overrides|env")
