"""Negative controls for the end-to-end proofs: a mutation that breaks one feature on purpose, selected by
``VERL_MED_TESTBED_MUTATION`` (unset: nothing happens). A proof that still passes under its mutation proves nothing;
``tests/test_cpu_e2e.py`` runs the trainer under each mutation listed here and checks that the proof fails.

- ``stale_rollout_weights``: verl's vLLM ``ServerAdapter.update_weights``
  (verl/workers/rollout/vllm_rollout/vllm_rollout.py:210, the actor's side of every weight sync) sends no tensor, so
  vLLM keeps the weights it loaded at start while the actor trains: the rollout samples from a stale policy. The rest
  of the sync runs (the weight version is still set: skipping the whole call leaves verl's ``min_global_steps`` tag
  ``None`` and the trainer fails in ``_compute_metrics`` instead of training on stale samples).
- ``stale_rollout_adapter``: the same call resends, for every set of tensor names it has sent before, the tensors
  it sent the first time, so vLLM keeps its first weights while the actor trains. Needed for LoRA: an empty sync
  makes vLLM's ``add_lora`` fail (``StopIteration`` in ``_create_merged_loras_inplace``, the run then hangs), while
  the first adapter (peft's ``lora_B`` = 0) is a valid, stale one: the rollout samples from the base policy.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

ENV = "VERL_MED_TESTBED_MUTATION"


def _send_no_weights(module: Any) -> None:
    original = module.ServerAdapter.update_weights

    async def update_weights(self: Any, weights: Any, *args: Any, **kwargs: Any) -> Any:
        for _ in weights:  # let the actor's side run (layered summon, offload), then drop every tensor
            pass
        return await original(self, iter(()), *args, **kwargs)

    module.ServerAdapter.update_weights = update_weights


def _resend_first_weights(module: Any) -> None:
    original = module.ServerAdapter.update_weights
    first: dict[tuple[str, ...], list[tuple[str, Any]]] = {}

    async def update_weights(self: Any, weights: Any, *args: Any, **kwargs: Any) -> Any:
        current = [(name, tensor.detach().clone()) for name, tensor in weights]  # buffers may be reused
        sent = first.setdefault(tuple(name for name, _ in current), current)
        return await original(self, iter(sent), *args, **kwargs)

    module.ServerAdapter.update_weights = update_weights


MUTATIONS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "stale_rollout_weights": ("verl.workers.rollout.vllm_rollout.vllm_rollout", _send_no_weights),
    "stale_rollout_adapter": ("verl.workers.rollout.vllm_rollout.vllm_rollout", _resend_first_weights),
}


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs ``patch`` right after ``module_name`` is first executed (it may be imported long after verl)."""

    def __init__(self, module_name: str, patch: Callable[[Any], None]) -> None:
        self.module_name, self.patch = module_name, patch
        self.inner: Any = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module_name or self.inner is not None:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            self.inner, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        self.patch(module)


def apply_from_env() -> None:
    """Install the mutation ``VERL_MED_TESTBED_MUTATION`` names; an unknown name stops the process with the list."""
    name = os.environ.get(ENV, "").strip()
    if not name:
        return
    if name not in MUTATIONS:
        raise SystemExit(f"verl-med CPU test bed: unknown {ENV}={name!r}; known: {', '.join(MUTATIONS)}")
    module_name, patch = MUTATIONS[name]
    if module_name in sys.modules:
        patch(sys.modules[module_name])
    else:
        sys.meta_path.insert(0, _AfterImport(module_name, patch))
