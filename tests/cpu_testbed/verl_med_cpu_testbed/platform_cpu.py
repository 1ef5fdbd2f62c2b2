"""A ``cpu`` platform for verl, so its real trainer (FSDP2 over gloo, vLLM's CPU build as rollout) runs in tests.

verl 0.9.1 registers only the nvidia, huawei and amd platforms (``verl/plugin/platform/platform_manager.py``) and
falls back to nvidia. This module is a ``verl.plugins`` entry point, imported by ``import verl`` in every verl
process; it registers a ``cpu`` platform and, only when ``VERL_PLATFORM=cpu`` selects it, works around the
verl 0.9.1 lines that assume an accelerator. Each workaround names the line; ``docs/cpu.md`` has a minimal
reproduction of each and the upstream change that would remove it. Any other verl version is refused with a
clear error, because each patch is only known to be right for the line it was checked against.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import types
from contextlib import contextmanager
from typing import Any

from verl_med_cpu_testbed import mutations, startup
from verl_med_cpu_testbed.startup import VERL_CHECKED

# verl reads these when it places workers and picks engine classes; set before Ray starts so workers inherit them.
DEFAULT_ENV = {
    # verl/workers/engine/base.py:405 EngineRegistry.get_engine_cls: the FSDP engine is registered for cuda and
    # npu only; this documented override picks the cuda registration, which runs unchanged on CPU tensors.
    "VERL_ENGINE_DEVICE": "cuda",
    # vLLM CPU: KV-cache size in GiB (its default, 4 GiB per engine, is most of a small CI machine).
    "VLLM_CPU_KVCACHE_SPACE": "1",
}


def _cpu_device_module() -> types.ModuleType:
    """``torch.cpu`` plus the ``torch.cuda``-style calls verl makes on ``get_torch_device()`` (memory queries, rng
    state, cache release), answered for host memory."""
    import psutil
    import torch

    module = types.ModuleType("verl_med_cpu_device")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(module, name, getattr(torch.cpu, name))

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        memory = psutil.virtual_memory()
        return memory.available, memory.total

    def memory_in_use(device: Any = None) -> int:
        return psutil.Process().memory_info().rss

    def no_op(*args: Any, **kwargs: Any) -> None:
        return None

    module.empty_cache = no_op
    module.ipc_collect = no_op
    module.set_per_process_memory_fraction = no_op
    module.reset_peak_memory_stats = no_op
    module.mem_get_info = mem_get_info
    module.memory_allocated = module.memory_reserved = memory_in_use
    module.max_memory_allocated = module.max_memory_reserved = memory_in_use
    module.get_rng_state = lambda device=None: torch.get_rng_state()
    module.set_rng_state = lambda state, device=None: torch.set_rng_state(state)
    module.manual_seed = module.manual_seed_all = lambda seed: torch.manual_seed(seed)
    module.get_device_name = lambda device=None: "cpu"
    module.is_available = lambda: True
    module.device_count = lambda: 1
    module.current_device = lambda: "cpu"
    module.set_device = no_op
    return module


def _platform_class():
    from verl.plugin.platform import PlatformBase, PlatformRegistry

    @PlatformRegistry.register(platform="cpu")
    class PlatformCPU(PlatformBase):
        """Host CPU as verl's accelerator: gloo collectives, no CUDA IPC, a Ray resource named ``GPU``."""

        def __init__(self) -> None:
            found = importlib.metadata.version("verl")
            if found != VERL_CHECKED:
                raise RuntimeError(
                    f"verl-med CPU test bed: checked against verl {VERL_CHECKED} only, found verl {found}. Each "
                    "workaround in tests/cpu_testbed patches one verl line; re-check every line named in "
                    "tests/cpu_testbed/verl_med_cpu_testbed/platform_cpu.py and docs/cpu.md, then update "
                    "VERL_CHECKED."
                )
            self._module = _cpu_device_module()

        device_name = property(lambda self: "cpu")
        vendor_name = property(lambda self: "cpu")
        device_module = property(lambda self: self._module)

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            return False  # never auto-detected: only VERL_PLATFORM=cpu selects it

        def current_device(self):
            return "cpu"

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index=None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            import torch

            torch.manual_seed(seed)

        manual_seed_all = manual_seed

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0):
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            # Workers ask Ray for "GPU"; the test run starts Ray with +ray_kwargs.ray_init.num_gpus=1.
            return "GPU"

        def ray_noset_envvars(self) -> list[str]:
            return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

        def is_ipc_supported(self) -> bool:
            return False  # weights reach vLLM through shared memory instead of CUDA IPC handles

        def rollout_env_vars(self) -> dict[str, str]:
            return {key: os.environ.get(key, value) for key, value in DEFAULT_ENV.items()} | {"VERL_PLATFORM": "cpu"}

        def cudart(self):
            return None

    return PlatformCPU


# ---------------------------------------------------------------------------------------------------------------
# Workarounds, each for one verl 0.9.1 line.
# ---------------------------------------------------------------------------------------------------------------


def _dedupe_backend(backend: str | None) -> str | None:
    """``cpu:gloo,cpu:gloo`` -> ``cpu:gloo`` (torch: ``Duplicate device type cpu``)."""
    if not backend or "," not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in backend.split(","):
        device = part.partition(":")[0]
        seen.setdefault(device, part)
    return ",".join(seen.values())


def patch_process_group_backend() -> None:
    """verl/utils/distributed.py:63 and :89 build ``f"cpu:gloo,{get_device_name()}:{get_nccl_backend()}"``, which is
    ``cpu:gloo,cpu:gloo`` on CPU; torch rejects a device type listed twice."""
    import torch.distributed

    original = torch.distributed.init_process_group
    if getattr(original, "_verl_med_cpu", False):
        return

    @functools.wraps(original)
    def init_process_group(*args: Any, **kwargs: Any):
        if "backend" in kwargs:
            kwargs["backend"] = _dedupe_backend(kwargs["backend"])
        elif args:
            args = (_dedupe_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    init_process_group._verl_med_cpu = True
    torch.distributed.init_process_group = init_process_group


def enable() -> None:
    """Register the platform; with the checked verl version also apply the workarounds (startup.py installs the
    ones for modules imported later, in processes that may never import verl)."""
    _platform_class()
    if importlib.metadata.version("verl") != VERL_CHECKED:
        return  # the platform refuses to start, naming both versions; patch nothing
    for key, value in DEFAULT_ENV.items():
        os.environ.setdefault(key, value)
    patch_process_group_backend()
    startup.install()
    mutations.apply_from_env()


if os.environ.get("VERL_PLATFORM", "").strip().lower() == "cpu":
    enable()
