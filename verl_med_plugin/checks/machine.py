"""Machine checks: what this host lacks for a real run (GPU, rollout engine); a dry run needs none of it."""

from __future__ import annotations

import importlib.util
import os

from omegaconf import DictConfig

from verl_med_plugin import verl_compat

ROLLOUT_PACKAGES = {"vllm": "vllm", "sglang": "sglang", "trtllm": "tensorrt_llm"}


def training_blockers(config: DictConfig) -> list[str]:
    """What this machine lacks for a real run (GPU, rollout engine), each as one readable line."""
    import torch

    blockers = []
    n_gpus = int(config.trainer.n_gpus_per_node)
    if str(config.trainer.get("device", "cuda")) == "cpu":
        # verl 0.9.1 ships no CPU platform; the test bed (tests/cpu_testbed) registers one for CI-sized runs.
        platform = os.environ.get(verl_compat.PLATFORM_ENV, "")
        if platform != "cpu" or "cpu" not in verl_compat.registered_platforms():
            blockers.append(
                "trainer.device=cpu needs a verl platform named 'cpu' selected with VERL_PLATFORM=cpu (verl ships "
                "none; the test bed's: pip install ./tests/cpu_testbed, see docs/cpu.md)"
            )
    elif not torch.cuda.is_available():
        blockers.append(f"no CUDA GPU visible (trainer.n_gpus_per_node={n_gpus}); verl has no CPU training backend")
    elif int(config.trainer.nnodes) == 1 and torch.cuda.device_count() < n_gpus:
        blockers.append(f"trainer.n_gpus_per_node={n_gpus} but only {torch.cuda.device_count()} GPU(s) visible")
    engine = str(config.actor_rollout_ref.rollout.name)
    package = ROLLOUT_PACKAGES.get(engine, engine)
    if importlib.util.find_spec(package) is None:
        blockers.append(
            f"actor_rollout_ref.rollout.name={engine} but the '{package}' package is not installed "
            "(GPU host: bash scripts/setup.sh --gpu)"
        )
    return blockers
